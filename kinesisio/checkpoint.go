package kinesisio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/repartd/repartd/repartition"
)

// CheckpointVersion is the format version of Checkpoint.
const CheckpointVersion = 1

// Checkpoint is the saved progress of one source stream: per shard, the
// last sequence number whose every predecessor was acknowledged by the
// destination, and the key columns learned from control records up to
// those positions.
type Checkpoint struct {
	Version   int                        `json:"version"`
	Source    string                     `json:"source"`
	Dest      string                     `json:"dest"`
	Shards    map[string]ShardCheckpoint `json:"shards"`
	Learned   []repartition.TableKey     `json:"learned_keys,omitempty"`
	UpdatedAt time.Time                  `json:"updated_at"`
}

// ShardCheckpoint is one shard's position. Ended means the shard was closed
// and every record of it acknowledged: it is never read again.
type ShardCheckpoint struct {
	Seq   string `json:"seq,omitempty"`
	Ended bool   `json:"ended,omitempty"`
}

// Store saves and loads checkpoints. A lease-holding store shared by several
// instances implements the same calls: Save then fails with an error
// wrapping ErrLeaseLost for shards it no longer owns.
type Store interface {
	// Load returns the saved checkpoint, or found=false if there is none.
	Load(ctx context.Context) (cp Checkpoint, found bool, err error)
	// Save durably replaces the checkpoint. When it returns nil, a crash
	// right after loses nothing that Save was given.
	Save(ctx context.Context, cp Checkpoint) error
	// Close releases what the store holds (locks, leases).
	Close() error
}

// ErrLeaseLost says another instance owns what this one tried to save.
var ErrLeaseLost = errors.New("kinesisio: checkpoint lease lost")

// ErrStoreLocked says another process holds the checkpoint.
var ErrStoreLocked = errors.New("kinesisio: checkpoint in use by another process")

var streamNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// FileStore keeps the checkpoint of one source stream in DIR/SOURCE.json,
// written atomically (temp file, fsync, rename, fsync of the directory). It
// holds an advisory lock (flock) on DIR/SOURCE.lock while open, so two
// processes never share a checkpoint; the kernel drops the lock when the
// process dies, even by SIGKILL, so a restart never waits for it.
type FileStore struct {
	dir, source, dest string
	lock              *os.File
}

// OpenFileStore opens (creating DIR if needed) and locks the checkpoint of
// source. dest is recorded and checked on Load: a checkpoint made for
// another destination is refused, as resuming it would skip records the
// new destination never got.
func OpenFileStore(dir, source, dest string) (*FileStore, error) {
	if !streamNameRE.MatchString(source) {
		return nil, fmt.Errorf("checkpoint for stream %q: not a valid stream name", source)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint dir: %w", err)
	}
	lockPath := filepath.Join(dir, source+".lock")
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("checkpoint lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(lockPath)
		f.Close()
		return nil, fmt.Errorf("%s (holder pid %s): %w", lockPath, string(owner), ErrStoreLocked)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0)
	return &FileStore{dir: dir, source: source, dest: dest, lock: f}, nil
}

// Path is the checkpoint file's path.
func (s *FileStore) Path() string { return filepath.Join(s.dir, s.source+".json") }

// Load implements Store.
func (s *FileStore) Load(context.Context) (Checkpoint, bool, error) {
	b, err := os.ReadFile(s.Path())
	if errors.Is(err, os.ErrNotExist) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("read checkpoint: %w", err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint %s is corrupt: %w", s.Path(), err)
	}
	switch {
	case cp.Version != CheckpointVersion:
		return Checkpoint{}, false, fmt.Errorf("checkpoint %s: version %d, this repartd reads %d", s.Path(), cp.Version, CheckpointVersion)
	case cp.Source != s.source:
		return Checkpoint{}, false, fmt.Errorf("checkpoint %s is for source %q, not %q", s.Path(), cp.Source, s.source)
	case s.dest != "" && cp.Dest != s.dest:
		return Checkpoint{}, false, fmt.Errorf("checkpoint %s was made for destination %q, not %q: use a new checkpoint directory", s.Path(), cp.Dest, s.dest)
	}
	return cp, true, nil
}

// Save implements Store.
func (s *FileStore) Save(_ context.Context, cp Checkpoint) error {
	cp.Version, cp.Source, cp.Dest = CheckpointVersion, s.source, s.dest
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, s.source+".json.tmp*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path()); err != nil {
		return fmt.Errorf("replace checkpoint: %w", err)
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("sync checkpoint dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync checkpoint dir: %w", err)
	}
	return nil
}

// Close releases the lock. It is idempotent.
func (s *FileStore) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close() // closing the descriptor drops the flock
	s.lock = nil
	return err
}

// MemStore is an in-memory Store for tests. The zero value is empty.
type MemStore struct {
	mu    sync.Mutex
	cp    Checkpoint
	found bool
	saves int
}

// Load implements Store.
func (m *MemStore) Load(context.Context) (Checkpoint, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cp, m.found, nil
}

// Save implements Store.
func (m *MemStore) Save(_ context.Context, cp Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cp, m.found = cp, true
	m.saves++
	return nil
}

// Saves counts successful Save calls.
func (m *MemStore) Saves() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saves
}

// Close implements Store.
func (m *MemStore) Close() error { return nil }
