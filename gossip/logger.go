package gossip

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// logWriter turns memberlist's log lines, "[LEVEL] memberlist: text",
// into slog records at the matching level. memberlist writes through a
// *log.Logger, one Write per line.
type logWriter struct {
	logger *slog.Logger
	// onKeyError is called for each line that says a peer's messages could
	// not be decrypted, or were not encrypted as required. memberlist
	// reports this only in its log, so the line is the only place to count
	// it from.
	onKeyError func()
}

// newStdLogger returns the *log.Logger to give memberlist.
func newStdLogger(l *slog.Logger, onKeyError func()) *log.Logger {
	return log.New(&logWriter{logger: l, onKeyError: onKeyError}, "", 0)
}

// Write logs one line. It never fails: losing a log line must not break
// memberlist.
func (w *logWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\r\n"))
	level, msg := parseLine(line)
	// Key errors are logged at [ERR]; checking only those keeps the
	// frequent [DEBUG] lines cheap.
	if level >= slog.LevelError && w.onKeyError != nil && isKeyError(msg) {
		w.onKeyError()
	}
	// context.Background: memberlist's call sites carry no context.
	w.logger.Log(context.Background(), level, msg, "component", "memberlist")
	return len(p), nil
}

// parseLine splits a memberlist log line into its level and message;
// a line without a known prefix logs at Info.
func parseLine(line string) (slog.Level, string) {
	prefix, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(prefix, "[") {
		return slog.LevelInfo, line
	}
	var level slog.Level
	switch prefix {
	case "[TRACE]":
		level = slog.LevelDebug - 4
	case "[DEBUG]":
		level = slog.LevelDebug
	case "[INFO]":
		level = slog.LevelInfo
	case "[WARN]":
		level = slog.LevelWarn
	case "[ERR]", "[ERROR]":
		level = slog.LevelError
	default:
		return slog.LevelInfo, line
	}
	msg := strings.TrimSpace(rest)
	msg = strings.TrimPrefix(msg, "memberlist: ")
	return level, msg
}

// isKeyError reports whether msg is one of memberlist v0.6.0's lines
// (security.go, net.go) that mean "a peer with another key, or none".
func isKeyError(msg string) bool {
	lower := strings.ToLower(msg)
	return strings.Contains(lower, "no installed keys could decrypt the message") ||
		strings.Contains(lower, "remote state is encrypted and encryption is not configured") ||
		strings.Contains(lower, "encryption is configured but remote state is not encrypted")
}
