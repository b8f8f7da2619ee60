package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/filelock"
)

// recordHeartbeat is how often a --create --no-spool run sets its
// record's modification time: a crash is within it of the last one, as a
// spool's heartbeat (spool.DiskConfig.Heartbeat).
const recordHeartbeat = time.Minute

// noSpoolRecord is the record of one `listen --create --no-spool` run,
// which has no spool to keep it beside: <host>-<random>.json in the
// "created" folder of the state directory, named after the API host as the
// default spool files are. The run holds the lock of <host>-<random>.lock
// while it lives, so a --create run on the same API that finds the record
// unlocked knows the run crashed (or failed to clean up), deletes what it
// names and logs the gap; a live run's record is left alone.
type noSpoolRecord struct {
	path string   // the record
	lock *os.File // open and locked while the run lives
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// noSpoolRecordDir is the folder of the --no-spool runs' records.
func noSpoolRecordDir() (string, error) {
	dir, err := stateFile("", "created")
	if err != nil {
		return "", errors.New("no state directory: set XDG_STATE_HOME or HOME")
	}
	return dir, nil
}

// openNoSpoolRecord makes and locks a new record for a --no-spool run on
// apiBase. The record file itself is written by the run's first note.
func openNoSpoolRecord(apiBase string) (*noSpoolRecord, error) {
	if !filelock.Supported {
		return nil, errors.New("this system has no file locks, so the next run could not tell this one's record from a crashed run's")
	}
	dir, err := noSpoolRecordDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := os.CreateTemp(dir, spoolName(apiBase, nil)+"-*.lock")
	if err != nil {
		return nil, err
	}
	if held, err := filelock.TryLock(lock); err != nil || !held {
		lock.Close()
		os.Remove(lock.Name())
		return nil, fmt.Errorf("lock %s: %v (held by another process: %t)", lock.Name(), err, !held)
	}
	return &noSpoolRecord{path: strings.TrimSuffix(lock.Name(), ".lock") + ".json", lock: lock, stop: make(chan struct{})}, nil
}

// beat starts the goroutine that sets the record's modification time
// every recordHeartbeat, so the next run knows when this one was last
// alive. It owns nothing but the timer, and stops with close.
func (n *noSpoolRecord) beat() {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(recordHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-n.stop:
				return
			case now := <-t.C:
				os.Chtimes(n.path, time.Time{}, now)
			}
		}
	}()
}

// close stops the heartbeat and unlocks the record, keeping it.
func (n *noSpoolRecord) close() {
	n.once.Do(func() {
		close(n.stop)
		n.wg.Wait()
		n.lock.Close()
	})
}

// remove deletes the record (its run deleted what it made), then its lock.
func (n *noSpoolRecord) remove() error {
	n.once.Do(func() {
		close(n.stop)
		n.wg.Wait()
	})
	err := os.Remove(n.path)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	n.lock.Close()
	if err != nil {
		// The lock is kept with the record: the next run takes it and
		// clears the record (what it names is gone already).
		return fmt.Errorf("remove %s: %w", n.path, err)
	}
	// Once closed (Windows removes no file open); a run that takes the
	// lock meanwhile finds no record.
	os.Remove(n.lock.Name())
	return nil
}

// noSpoolLeft is the record of a --no-spool run that is gone, locked by
// this run until done.
type noSpoolLeft struct {
	path     string
	lock     *os.File
	entry    createdEntry
	lastSeen time.Time // the record's last write or heartbeat
}

// done removes the record when nothing of it is left (deleted), or else
// keeps it for the next run; either way it lets go of its lock.
func (l noSpoolLeft) done(deleted bool) {
	if deleted {
		os.Remove(l.path) // first: a run that takes the lock next finds no record
	}
	l.lock.Close()
	if deleted {
		os.Remove(l.lock.Name()) // once closed: Windows removes no file open
	}
}

// crashedNoSpool finds the records of --no-spool runs on apiBase that no
// live run holds, other than own, and locks each. A record it cannot
// read is warned of and left.
func crashedNoSpool(apiBase, own string, log *slog.Logger) []noSpoolLeft {
	dir, err := noSpoolRecordDir()
	if err != nil || !filelock.Supported { // a live run's record would look crashed
		return nil
	}
	// Host names are made of [A-Za-z0-9._-] only: nothing to escape.
	paths, _ := filepath.Glob(filepath.Join(dir, spoolName(apiBase, nil)+"-*.json"))
	var left []noSpoolLeft
	for _, path := range paths {
		if path == own {
			continue
		}
		// Not made: a missing lock is being removed by the run that handled it.
		lock, ok := tryLockFile(strings.TrimSuffix(path, ".json")+".lock", os.O_RDWR)
		if !ok {
			continue // a live run's, or removed meanwhile
		}
		rec, err := readCreatedRecord(path)
		info, statErr := os.Stat(path)
		switch {
		case err != nil:
			log.Warn("a record of an earlier `listen --create --no-spool` run cannot be read: what it names is not deleted", "error", err.Error())
		case statErr != nil || len(rec.Made) != 1 || rec.Made[0].APIBase != apiBase:
			// gone meanwhile, or of another API base on this host
		default:
			left = append(left, noSpoolLeft{path: path, lock: lock, entry: rec.Made[0], lastSeen: info.ModTime()})
			continue
		}
		lock.Close()
	}
	return left
}
