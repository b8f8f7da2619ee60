package spool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// A spool file is a log: a header, then frames that are only ever
// appended, never changed in place. Each frame is
//
//	payload length (uint32, little endian) | CRC-32C of the payload (uint32) | payload
//
// and each payload starts with its kind:
//
//	frameRecord:   a record, pending                 (appendRecord)
//	frameFinished: a record and its outcome at once  (appendRecord, appendOutcome)
//	frameOutcome:  seq, then the outcome of a record written before
//	frameForget:   count, then seqs of records to forget (pruned history, purge)
//
// Reading the frames in order gives each record's state; what a later
// frame supersedes is garbage until the file is compacted (rewritten with
// the live frames only, then renamed over the old one).
const (
	frameRecord   byte = 1
	frameFinished byte = 2
	frameOutcome  byte = 3
	frameForget   byte = 4
)

// fileHeader starts every spool file: a name to recognise it by and the
// format version.
var fileHeader = []byte("dialpad-tunnel\x00\x03")

// frameHeader is the length and checksum before each payload.
const frameHeader = 8

// maxPayload bounds a frame: more is a damaged length, not an event.
const maxPayload = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// beginFrame starts a frame of kind at the end of b; endFrame, given the
// index beginFrame returned, fills in its length and checksum.
func beginFrame(b []byte, kind byte) ([]byte, int) {
	at := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, kind)
	return b, at
}

func endFrame(b []byte, at int) {
	payload := b[at+frameHeader:]
	binary.LittleEndian.PutUint32(b[at:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[at+4:], crc32.Checksum(payload, castagnoli))
}

// span is where one frame lies in the file, header included.
type span struct {
	off int64
	n   int32
}

// errNotSpool is wrapped when a file does not start with fileHeader.
var errNotSpool = errors.New("not a dialpad-tunnel spool (unknown header)")

// scan reads f's frames from the start, checking each one's checksum, and
// calls visit with each payload (valid only during the call) and where
// its frame lies. It returns the end of the last whole frame. A frame cut
// short at the end of the file is the tail of a write that a crash
// interrupted before its sync (so never reported as stored): it ends the
// scan without error, and a writer truncates it. Damage anywhere else is
// an error with the frame's offset.
func scan(f *os.File, visit func(kind byte, payload []byte, at span) error) (int64, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<20)
	head := make([]byte, len(fileHeader))
	if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head, fileHeader) {
		return 0, errNotSpool
	}
	off := int64(len(fileHeader))
	var hdr [frameHeader]byte
	var payload []byte
	for off < size {
		if size-off < frameHeader {
			return off, nil // cut short: a torn tail
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return off, err
		}
		n := int64(binary.LittleEndian.Uint32(hdr[:]))
		sum := binary.LittleEndian.Uint32(hdr[4:])
		end := off + frameHeader + n
		if end > size {
			return off, nil // cut short: a torn tail
		}
		if n == 0 || n > maxPayload {
			if zeros(r) {
				return off, nil // a tail the file system filled with zeros
			}
			return off, fmt.Errorf("%w: frame at offset %d has a bad length", errCorrupt, off)
		}
		if int64(cap(payload)) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return off, err
		}
		if crc32.Checksum(payload, castagnoli) != sum {
			if end == size {
				return off, nil // the last frame, torn
			}
			return off, fmt.Errorf("%w: frame at offset %d fails its checksum", errCorrupt, off)
		}
		if err := visit(payload[0], payload[1:], span{off: off, n: int32(end - off)}); err != nil {
			return off, err
		}
		off = end
	}
	return off, nil
}

// zeros reports whether r has nothing but zero bytes left.
func zeros(r *bufio.Reader) bool {
	for {
		c, err := r.ReadByte()
		if err != nil {
			return true
		}
		if c != 0 {
			return false
		}
	}
}

// readFrame reads the payload of the frame at s, checking it.
func readFrame(f *os.File, s span) ([]byte, error) {
	b := make([]byte, s.n)
	if _, err := f.ReadAt(b, s.off); err != nil {
		return nil, err
	}
	payload := b[frameHeader:]
	if int(binary.LittleEndian.Uint32(b)) != len(payload) || crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, fmt.Errorf("%w: frame at offset %d fails its checksum", errCorrupt, s.off)
	}
	return payload, nil
}
