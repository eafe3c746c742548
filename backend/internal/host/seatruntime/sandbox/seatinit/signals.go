package seatinit

import (
	"os"
	"os/signal"
	"syscall"
)

// defaultIgnoredSignals is the first thing Main does, in every binary of
// ours (the server and agent, the workspace daemon, a seat's Go init).
// Started with SIGHUP or SIGINT ignored (under nohup, or as a script's
// background job; a seat of such an agent), a process would hand that on:
// an ignored signal stays ignored across exec, so a seat's daemon,
// root-script helper, scripts and learner programs would ignore it too. A
// handler of this process's own, which drops the signal (it was ignored
// here), gives whatever it execs or starts the default action. (The C init
// sets both back to the default instead.)
func defaultIgnoredSignals() {
	for _, sig := range []os.Signal{syscall.SIGHUP, syscall.SIGINT} {
		if signal.Ignored(sig) {
			signal.Notify(make(chan os.Signal, 1), sig)
		}
	}
}
