package main

import (
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/google/uuid"
	_ "github.com/gorilla/websocket"
	_ "github.com/hashicorp/go-retryablehttp"
	_ "github.com/urfave/cli/v2"
	_ "go.uber.org/goleak"
)

func main() {}
