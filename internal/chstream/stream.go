package chstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/ch-go/proto"
)

// clientRevision is the protocol revision the client speaks: ClickHouse 18.16's.
const clientRevision = 54412

// clientName, clientMajor and clientMinor introduce the client in the server's logs
// and system.query_log.
const (
	clientName  = "lambda-batch"
	clientMajor = 1
	clientMinor = 0
)

// Defaults for the zero fields of Options.
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultReadTimeout = 10 * time.Minute
)

// ErrUnexpectedPacket is returned for a server packet a SELECT never gets.
var ErrUnexpectedPacket = errors.New("unexpected packet from clickhouse")

// Options locate the server and bound the waits.
type Options struct {
	// Addr is the native protocol address host:port.
	Addr string
	// Database is the default database of the query.
	Database string
	// User and Password log in; an empty User is "default".
	User, Password string
	// DialTimeout bounds connecting and the handshake.
	DialTimeout time.Duration
	// ReadTimeout bounds the wait for each packet of the answer.
	ReadTimeout time.Duration
	// BytesRead, when set, counts every byte read from the server (what a batch run
	// reads, for its cost).
	BytesRead *atomic.Int64
}

// Exception is an error the server reported.
type Exception struct {
	Code    int32
	Name    string
	Message string
}

func (e *Exception) Error() string {
	return fmt.Sprintf("clickhouse exception %d (%s): %s", e.Code, e.Name, e.Message)
}

// Select runs query and decodes every block of its answer into result, whose
// columns must match the query's in order, name and type. After each non-empty
// block it calls onBlock with the block's row count; the columns hold that block
// until onBlock returns, when they are reused for the next one. queryID names the
// query on the server (system.processes, KILL QUERY); empty lets the server pick.
func Select(ctx context.Context, opts Options, queryID, query string, result proto.Results, onBlock func(rows int) error) (err error) {
	c, err := dial(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("close clickhouse connection: %w", cerr)
		}
	}()
	// A cancelled context unblocks whatever read or write is in progress.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	for _, col := range result {
		if u, ok := col.Data.(bufferUser); ok {
			u.useBuffer(c.br)
			defer u.useBuffer(nil)
		}
	}
	err = c.query(queryID, query, result, onBlock)
	// A context that ended during the query is its outcome, even when the server
	// finished before the deadline reached the socket: the caller stopped wanting rows.
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("select on %s: %w", opts.Addr, ctxErr)
	}
	if err != nil {
		return fmt.Errorf("select on %s: %w", opts.Addr, err)
	}
	return nil
}

// readBufferSize is the connection's read buffer: at least ch-go's, so that
// proto.NewReader reads through it rather than a buffer of its own, and the columns
// that parse strings in place (Strings) see the bytes it has not decoded yet.
const readBufferSize = 1 << 20

type conn struct {
	nc          net.Conn
	br          *bufio.Reader // under r: r never reads ahead of what it decodes
	r           *proto.Reader
	w           proto.Buffer
	readTimeout time.Duration
}

func dial(ctx context.Context, opts Options) (*conn, error) {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.User == "" {
		opts.User = "default"
	}
	d := net.Dialer{Timeout: opts.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("clickhouse at %s: %w", opts.Addr, err)
	}
	var src io.Reader = nc
	if opts.BytesRead != nil {
		src = countingReader{nc, opts.BytesRead}
	}
	br := bufio.NewReaderSize(src, readBufferSize)
	c := &conn{nc: nc, br: br, r: proto.NewReader(br), readTimeout: opts.ReadTimeout}
	_ = nc.SetDeadline(time.Now().Add(opts.DialTimeout))
	if err := c.handshake(opts); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("clickhouse at %s: handshake: %w", opts.Addr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *conn) Close() error { return c.nc.Close() }

func (c *conn) handshake(opts Options) error {
	c.w.Reset()
	proto.ClientHello{
		Name: clientName, Major: clientMajor, Minor: clientMinor, ProtocolVersion: clientRevision,
		Database: opts.Database, User: opts.User, Password: opts.Password,
	}.Encode(&c.w)
	if err := c.flush(); err != nil {
		return err
	}
	code, err := c.packet()
	if err != nil {
		return err
	}
	switch code {
	case proto.ServerCodeHello:
		var hello proto.ServerHello
		return hello.DecodeAware(c.r, clientRevision)
	case proto.ServerCodeException:
		return c.exception()
	}
	return fmt.Errorf("%w %s during handshake", ErrUnexpectedPacket, code)
}

// query sends the Query packet and the empty block that ends the (absent) external
// tables, then reads the answer.
func (c *conn) query(queryID, query string, result proto.Results, onBlock func(rows int) error) error {
	c.w.Reset()
	proto.ClientCodeQuery.Encode(&c.w)
	c.w.PutString(queryID)
	host, _ := os.Hostname()
	proto.ClientInfo{
		ProtocolVersion: clientRevision, Major: clientMajor, Minor: clientMinor,
		Interface: proto.InterfaceTCP, Query: proto.ClientQueryInitial,
		InitialQueryID: queryID, InitialAddress: c.nc.LocalAddr().String(),
		ClientHostname: host, ClientName: clientName,
	}.EncodeAware(&c.w, clientRevision)
	c.w.PutString("") // end of settings
	proto.StageComplete.Encode(&c.w)
	proto.CompressionDisabled.Encode(&c.w)
	c.w.PutString(query)
	proto.ClientCodeData.Encode(&c.w)
	proto.ClientData{}.EncodeAware(&c.w, clientRevision)
	if err := (&proto.Block{}).EncodeBlock(&c.w, clientRevision, nil); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	for {
		code, err := c.packet()
		if err != nil {
			return err
		}
		switch code {
		case proto.ServerCodeData:
			var data proto.ClientData // same layout: the name of the (temporary) table
			if err := data.DecodeAware(c.r, clientRevision); err != nil {
				return fmt.Errorf("data packet: %w", err)
			}
			var b proto.Block
			if err := b.DecodeBlock(c.r, clientRevision, result); err != nil {
				return fmt.Errorf("decode block: %w", err)
			}
			if b.Rows > 0 {
				if err := onBlock(b.Rows); err != nil {
					return err
				}
			}
		case proto.ServerCodeProgress:
			var p proto.Progress
			if err := p.DecodeAware(c.r, clientRevision); err != nil {
				return fmt.Errorf("progress packet: %w", err)
			}
		case proto.ServerCodeProfile:
			var p proto.Profile
			if err := p.DecodeAware(c.r, clientRevision); err != nil {
				return fmt.Errorf("profile packet: %w", err)
			}
		case proto.ServerCodeException:
			return c.exception()
		case proto.ServerCodeEndOfStream:
			return nil
		default:
			return fmt.Errorf("%w %s", ErrUnexpectedPacket, code)
		}
	}
}

// packet reads the next packet code, waiting at most the read timeout.
func (c *conn) packet() (proto.ServerCode, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.readTimeout))
	n, err := c.r.UVarInt()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("read packet: %w", err)
	}
	return proto.ServerCode(n), nil
}

// exception decodes an Exception packet and the nested causes that follow it.
func (c *conn) exception() error {
	var first *Exception
	var causes []string
	for {
		code, err := c.r.Int32()
		if err != nil {
			return fmt.Errorf("exception packet: %w", err)
		}
		var fields [3]string // name, message, stack trace
		for i := range fields {
			if fields[i], err = c.r.Str(); err != nil {
				return fmt.Errorf("exception packet: %w", err)
			}
		}
		nested, err := c.r.Bool()
		if err != nil {
			return fmt.Errorf("exception packet: %w", err)
		}
		if first == nil {
			first = &Exception{Code: code, Name: fields[0], Message: strings.TrimSpace(fields[1])}
		} else {
			causes = append(causes, strings.TrimSpace(fields[1]))
		}
		if !nested {
			break
		}
	}
	if len(causes) > 0 {
		first.Message += "; caused by: " + strings.Join(causes, "; caused by: ")
	}
	return first
}

func (c *conn) flush() error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.readTimeout))
	if _, err := c.nc.Write(c.w.Buf); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// countingReader adds what it reads to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// Quote writes s to w as a ClickHouse string literal, for the few queries whose values
// are written into the SQL text (an IN list of entity ids, a chunk's bounds).
func Quote(w *strings.Builder, s string) {
	w.WriteByte('\'')
	for i := range len(s) {
		if s[i] == '\'' || s[i] == '\\' {
			w.WriteByte('\\')
		}
		w.WriteByte(s[i])
	}
	w.WriteByte('\'')
}
