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

// A spool file is a log: a header, then batches that are only ever
// appended, never changed in place. Each batch is what one commit wrote
// with one write and one sync:
//
//	"DPTB" | payload length (uint32, little endian) | CRC-32C of the payload (uint32) | payload
//
// and its payload is frames, each
//
//	payload length (uint32) | CRC-32C of the payload (uint32) | payload
//
// (a frame is also read on its own, for one event's body). Each frame's
// payload starts with its kind:
//
//	frameRecord:   a record, pending                 (appendRecord)
//	frameFinished: a record and its outcome at once  (appendRecord, appendOutcome)
//	frameOutcome:  seq, then the outcome of a record written before
//	frameForget:   count, then seqs of records to forget (pruned history, purge)
//	frameTried:    seq, then the attempts made so far on a pending record
//	               (each supersedes the one before; an outcome, them all)
//
// Reading the frames in order gives each record's state; what a later
// frame supersedes is garbage until the file is compacted (rewritten with
// the live frames only, then renamed over the old one). Each batch is
// written at the end of the intact data (an unfinished tail is cut off
// first, and the cut synced) and synced before the next one is written:
// so a crash can only tear the last batch, never synced and so never
// reported as stored.
const (
	frameRecord   byte = 1
	frameFinished byte = 2
	frameOutcome  byte = 3
	frameForget   byte = 4
	frameTried    byte = 5
)

// fileHeader starts every spool file: a name to recognise it by and the
// format version. Version 4 added frameTried; version 5, summaries of
// attempts not kept (an attempt status of omittedStatus or more); version
// 6, an attempt's Retry-After (retryAfterFlag). Older files are read, and
// a writer raises them to the current version before it writes anything.
var fileHeader = []byte("dialpad-tunnel\x00\x06")

// oldestVersion is the oldest format version read.
const oldestVersion = 3

// frameHeader is the length and checksum before each payload.
const frameHeader = 8

// maxPayload bounds a batch: more is a damaged length. Commits stay far
// below it (maxBatchBytes).
const maxPayload = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchMagic starts every batch; batchHeader is its size with the length
// and checksum.
const (
	batchMagic  = "DPTB"
	batchHeader = 12
)

// beginBatch starts a batch at the end of b; sealBatch, given the index
// beginBatch returned, fills in its length and checksum.
func beginBatch(b []byte) ([]byte, int) {
	at := len(b)
	return append(b, batchMagic+"\x00\x00\x00\x00\x00\x00\x00\x00"...), at
}

func sealBatch(b []byte, at int) {
	payload := b[at+batchHeader:]
	binary.LittleEndian.PutUint32(b[at+4:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[at+8:], crc32.Checksum(payload, castagnoli))
}

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

// errNewerFormat is wrapped for a spool whose header gives a format
// version above the newest read: written by a newer dialpad-tunnel, or a
// damaged header (Salvage tells the two apart by reading the batches).
var errNewerFormat = errors.New("written by a newer dialpad-tunnel, or damaged")

// headerVersion checks a file's header and returns its format version.
func headerVersion(head []byte) (byte, error) {
	name := fileHeader[:len(fileHeader)-1]
	if len(head) != len(fileHeader) || !bytes.Equal(head[:len(name)], name) {
		return 0, errNotSpool
	}
	v, newest := head[len(name)], fileHeader[len(name)]
	switch {
	case v > newest:
		return v, fmt.Errorf("%w: its header gives format %d, this dialpad-tunnel reads %d to %d", errNewerFormat, v, oldestVersion, newest)
	case v < oldestVersion:
		return v, errNotSpool
	}
	return v, nil
}

// scan reads f's batches from the start, checking each one's checksum,
// and calls visit with each frame's payload (valid only during the call)
// and where the frame lies. It returns the end of the last whole batch.
//
// A batch that is cut short or fails its checksum, and may be the last
// one, is the tail of a write that a crash interrupted before its sync (so
// none of its events was reported as stored): scan ends there without
// error, and a writer cuts it off. A damaged batch that is shown not to be
// the last (see tornOrDamaged) is damage, not a crash: an error with its
// offset.
func scan(f *os.File, visit func(kind byte, payload []byte, at span) error) (int64, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<20)
	head := make([]byte, len(fileHeader))
	if _, err := io.ReadFull(r, head); err != nil {
		return 0, errNotSpool
	}
	if _, err := headerVersion(head); err != nil {
		return 0, err
	}
	off := int64(len(fileHeader))
	var hdr [batchHeader]byte
	var payload []byte
	// A reader that does not hold the lock (events list, show) may see
	// the file cut behind it: a starting listen, or a writing events
	// command, cuts off an unfinished last write, the only bytes anyone
	// cuts. What could not be read then was that tail: the scan ends
	// where it is, as if it had found it, where a read of the bytes gone
	// used to fail with EOF, taken for damage.
	cutBehind := func(err error) bool {
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return false
		}
		fi, statErr := f.Stat()
		return statErr == nil && fi.Size() < size
	}
	torn := func(off int64) (int64, error) {
		if err := tornOrDamaged(f, off, size); err != nil && !cutBehind(err) {
			return off, err
		}
		return off, nil
	}
	for off < size {
		n := int64(-1)
		if size-off >= batchHeader {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				if cutBehind(err) {
					return off, nil
				}
				return off, err
			}
			if string(hdr[:4]) == batchMagic {
				n = int64(binary.LittleEndian.Uint32(hdr[4:]))
			}
		}
		if n <= 0 || n > maxPayload || off+batchHeader+n > size {
			return torn(off)
		}
		if int64(cap(payload)) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			if cutBehind(err) {
				return off, nil
			}
			return off, err
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[8:]) {
			return torn(off)
		}
		if err := frames(payload, off+batchHeader, visit); err != nil {
			return off, err
		}
		off += batchHeader + n
	}
	return off, nil
}

// frames calls visit with each frame of a batch's payload, which starts at
// file offset base. The batch passed its checksum, so a bad frame is an
// error.
func frames(b []byte, base int64, visit func(kind byte, payload []byte, at span) error) error {
	for at := 0; at < len(b); {
		if len(b)-at < frameHeader+1 {
			return fmt.Errorf("%w: frame at offset %d is cut short", errCorrupt, base+int64(at))
		}
		n := int(binary.LittleEndian.Uint32(b[at:]))
		end := at + frameHeader + n
		if n == 0 || n > len(b)-at-frameHeader {
			return fmt.Errorf("%w: frame at offset %d has a bad length", errCorrupt, base+int64(at))
		}
		payload := b[at+frameHeader : end]
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[at+4:]) {
			return fmt.Errorf("%w: frame at offset %d fails its checksum", errCorrupt, base+int64(at))
		}
		if err := visit(payload[0], payload[1:], span{off: base + int64(at), n: int32(end - at)}); err != nil {
			return err
		}
		at = end
	}
	return nil
}

// tornOrDamaged decides about a bad batch at off, the first one: nil (a
// torn tail) when it may be the last batch, which alone a crash can leave
// unfinished, else an error naming the offset. It is not the last when an
// intact batch follows it, or when tailDamage shows more than one batch.
func tornOrDamaged(f *os.File, off, size int64) error {
	_, found, err := nextBatch(f, off+1, size)
	switch {
	case err != nil:
		return err
	case found:
		return fmt.Errorf("%w: batch at offset %d is damaged, and data after it is intact", errCorrupt, off)
	}
	why, err := tailDamage(f, off, size)
	if err != nil || why == "" {
		return err
	}
	return fmt.Errorf("%w: batch at offset %d is damaged, and %s: more than the last batch, the only one a crash can leave unfinished", errCorrupt, off, why)
}

// tailDamage tells whether the bad bytes from the batch at off to the end
// of the file, with no intact batch among them, are more than one batch:
// then it says why, else it returns "". A crash leaves part of one write,
// and so of one batch, with some of it not yet written or zeros where the
// file grew (a power cut). Bytes past that batch's end are a later batch,
// written after it was synced: when its header is whole, the file must
// not go on past the end it gives; when it is not, no later batch may
// start after it (a batch header whose first frame is whole). A header
// whose checksum reads 0 may be whole in part only (it can lie across
// two sectors, and the second one's bytes read 0 after a crash, the
// length's high bytes among them): its length is not trusted.
func tailDamage(f *os.File, off, size int64) (string, error) {
	var hdr [batchHeader]byte
	if size-off >= batchHeader {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return "", err
		}
		n := int64(binary.LittleEndian.Uint32(hdr[4:]))
		if string(hdr[:4]) == batchMagic && n > 0 && n <= maxPayload && binary.LittleEndian.Uint32(hdr[8:]) != 0 {
			if end := off + batchHeader + n; end < size {
				return fmt.Sprintf("the file goes on past the end its header gives (offset %d)", end), nil
			}
			return "", nil
		}
	}
	at, found, err := findBatch(f, off+1, size, batchStarts)
	if err != nil || !found {
		return "", err
	}
	return fmt.Sprintf("a later batch starts at offset %d", at), nil
}

// batchStarts reports whether a batch starts at off: its header is whole
// and so is its first frame, checksum and all (the rest may be missing).
func batchStarts(f *os.File, off, size int64) (bool, error) {
	var hdr [batchHeader + frameHeader]byte
	if size-off < int64(len(hdr)) {
		return false, nil
	}
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return false, err
	}
	n := int64(binary.LittleEndian.Uint32(hdr[4:]))
	m := int64(binary.LittleEndian.Uint32(hdr[batchHeader:]))
	if string(hdr[:4]) != batchMagic || n <= 0 || n > maxPayload || m <= 0 || frameHeader+m > n || off+int64(len(hdr))+m > size {
		return false, nil
	}
	payload := make([]byte, m)
	if _, err := f.ReadAt(payload, off+int64(len(hdr))); err != nil {
		return false, err
	}
	return crc32.Checksum(payload, castagnoli) == binary.LittleEndian.Uint32(hdr[batchHeader+4:]), nil
}

// readBatch reads the batch at off, header included, if it is intact.
func readBatch(f *os.File, off, size int64) ([]byte, bool, error) {
	var hdr [batchHeader]byte
	if size-off < batchHeader {
		return nil, false, nil
	}
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return nil, false, err
	}
	n := int64(binary.LittleEndian.Uint32(hdr[4:]))
	if string(hdr[:4]) != batchMagic || n <= 0 || n > maxPayload || off+batchHeader+n > size {
		return nil, false, nil
	}
	batch := make([]byte, batchHeader+n)
	if _, err := f.ReadAt(batch, off); err != nil {
		return nil, false, err
	}
	if crc32.Checksum(batch[batchHeader:], castagnoli) != binary.LittleEndian.Uint32(hdr[8:]) {
		return nil, false, nil
	}
	return batch, true, nil
}

// nextBatch finds the first intact batch at or after from.
func nextBatch(f *os.File, from, size int64) (int64, bool, error) {
	return findBatch(f, from, size, func(f *os.File, at, size int64) (bool, error) {
		_, ok, err := readBatch(f, at, size)
		return ok, err
	})
}

// findBatch finds the first batch magic at or after from where is says
// yes.
func findBatch(f *os.File, from, size int64, is func(f *os.File, at, size int64) (bool, error)) (int64, bool, error) {
	const window = 1 << 20
	buf := make([]byte, window+len(batchMagic)-1)
	for pos := from; pos < size; pos += window {
		n, err := f.ReadAt(buf, pos)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, false, err
		}
		for i := 0; i < min(n, window); {
			j := bytes.Index(buf[i:n], []byte(batchMagic))
			if j < 0 || i+j >= window {
				break
			}
			at := pos + int64(i+j)
			if ok, err := is(f, at, size); err != nil || ok {
				return at, ok, err
			}
			i += j + 1
		}
	}
	return 0, false, nil
}

// readFrame reads the payload of the frame at s, checking it.
func readFrame(f *os.File, s span) ([]byte, error) {
	b := make([]byte, s.n)
	if _, err := f.ReadAt(b, s.off); err != nil {
		return nil, err
	}
	return checkFrame(b, s.off)
}

// checkFrame returns the payload of the frame b, read at offset off, once
// its length and checksum hold.
func checkFrame(b []byte, off int64) ([]byte, error) {
	payload := b[frameHeader:]
	if int(binary.LittleEndian.Uint32(b)) != len(payload) || crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, fmt.Errorf("%w: frame at offset %d fails its checksum", errCorrupt, off)
	}
	return payload, nil
}
