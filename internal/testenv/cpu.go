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
	st, err := stat(pid)
	if err != nil {
		return 0
	}
	return time.Duration(st.UTime+st.STime) * clockTick
}

// ServerCPU is the CPU time every process on this machine named comm has used, with
// the children that exited of each one whose parent has another name (a postmaster's
// backends): the CPU a local server has spent, to compare before and after a
// benchmark step. It is 0 when the server runs elsewhere.
func ServerCPU(comm string) time.Duration {
	procs, err := procfs.AllProcs()
	if err != nil {
		return 0
	}
	var ticks int
	for _, p := range procs {
		st, err := p.Stat()
		if err != nil || st.Comm != comm {
			continue
		}
		ticks += int(st.UTime + st.STime)
		if parent, err := stat(st.PPID); err != nil || parent.Comm != comm {
			ticks += st.CUTime + st.CSTime
		}
	}
	return time.Duration(ticks) * clockTick
}

func stat(pid int) (procfs.ProcStat, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return procfs.ProcStat{}, err
	}
	return p.Stat()
}
