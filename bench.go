package main

import "github.com/urfave/cli/v2"

func benchCommand() *cli.Command {
	return &cli.Command{Name: "bench", Usage: "measure the agent path against a direct POST loop (not yet)", Action: func(*cli.Context) error { return cli.Exit("bench: not written yet", 1) }}
}
