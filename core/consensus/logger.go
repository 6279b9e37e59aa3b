package consensus

import (
	"context"
	"fmt"
	"log/slog"
)

// bftLogger adapts slog to SmartBFT's printf-style logger. SmartBFT's Info
// level is chatty (every decision), so it is logged at debug. Messages are
// formatted only when their level is enabled: SmartBFT passes whole protocol
// messages as arguments, and printing them costs more than handling them.
type bftLogger struct{ l *slog.Logger }

func (b bftLogger) logf(level slog.Level, t string, a []any) {
	ctx := context.Background()
	if b.l.Enabled(ctx, level) {
		b.l.Log(ctx, level, fmt.Sprintf(t, a...))
	}
}

func (b bftLogger) Debugf(t string, a ...any) { b.logf(slog.LevelDebug, t, a) }
func (b bftLogger) Infof(t string, a ...any)  { b.logf(slog.LevelDebug, t, a) }
func (b bftLogger) Warnf(t string, a ...any)  { b.logf(slog.LevelWarn, t, a) }
func (b bftLogger) Errorf(t string, a ...any) { b.logf(slog.LevelError, t, a) }
func (b bftLogger) Panicf(t string, a ...any) {
	msg := fmt.Sprintf(t, a...)
	b.l.Error(msg)
	panic(msg)
}
