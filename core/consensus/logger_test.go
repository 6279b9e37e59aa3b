package consensus

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// costly counts how often it is printed.
type costly struct{ printed *int }

func (c costly) String() string { *c.printed++; return "message" }

// SmartBFT's debug lines carry whole protocol messages; at info level they
// must not even be formatted, while warnings still are.
func TestBFTLoggerFormatsOnlyEnabledLevels(t *testing.T) {
	var out bytes.Buffer
	l := bftLogger{slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	printed := 0
	l.Debugf("got %s", costly{&printed})
	l.Infof("decided %s", costly{&printed})
	if printed != 0 || out.Len() != 0 {
		t.Fatalf("debug lines formatted %d times, wrote %q", printed, out.String())
	}
	l.Warnf("slow %s", costly{&printed})
	if printed != 1 || !strings.Contains(out.String(), "level=WARN msg=\"slow message\"") {
		t.Fatalf("warning formatted %d times, wrote %q", printed, out.String())
	}
}
