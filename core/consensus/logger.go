package consensus

import (
	"fmt"
	"log/slog"
)

// bftLogger adapts slog to SmartBFT's printf-style logger. SmartBFT's Info
// level is chatty (every decision), so it is logged at debug.
type bftLogger struct{ l *slog.Logger }

func (b bftLogger) Debugf(t string, a ...any) { b.l.Debug(fmt.Sprintf(t, a...)) }
func (b bftLogger) Infof(t string, a ...any)  { b.l.Debug(fmt.Sprintf(t, a...)) }
func (b bftLogger) Warnf(t string, a ...any)  { b.l.Warn(fmt.Sprintf(t, a...)) }
func (b bftLogger) Errorf(t string, a ...any) { b.l.Error(fmt.Sprintf(t, a...)) }
func (b bftLogger) Panicf(t string, a ...any) {
	msg := fmt.Sprintf(t, a...)
	b.l.Error(msg)
	panic(msg)
}
