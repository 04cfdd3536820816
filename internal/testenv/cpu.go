package testenv

import (
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// Comm values (/proc/<pid>/comm, cut at 15 bytes) of the servers benchmarks account
// CPU time to.
const (
	PostgresComm   = "postgres"
	ClickHouseComm = "clickhouse-serv"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// SelfCPU is the CPU time this process has used.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProcessCPU is the CPU time process pid has used so far (0 if it cannot be read).
func ProcessCPU(pid int) time.Duration {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0
	}
	st, err := p.Stat()
	if err != nil {
		return 0
	}
	return time.Duration(st.UTime+st.STime) * clockTick
}

// ServerCPU is the CPU time every process on this machine named comm has used, with
// the children that exited of each one whose parent has another name (a postmaster's
// backends): the CPU a local server has spent, to compare before and after a
// benchmark step. It is 0 when the server runs elsewhere. /proc is read once.
func ServerCPU(comm string) time.Duration {
	procs, err := procfs.AllProcs()
	if err != nil {
		return 0
	}
	named := map[int]procfs.ProcStat{} // pid → stat, of the processes named comm
	for _, p := range procs {
		if st, err := p.Stat(); err == nil && st.Comm == comm {
			named[st.PID] = st
		}
	}
	var ticks int
	for _, st := range named {
		ticks += int(st.UTime + st.STime)
		if _, child := named[st.PPID]; !child {
			ticks += st.CUTime + st.CSTime
		}
	}
	return time.Duration(ticks) * clockTick
}
