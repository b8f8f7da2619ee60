package spool

import "golang.org/x/sys/windows"

// diskFree is the space left to this process (its quota included) on the
// volume of the folder path.
func diskFree(path string) (int64, bool) {
	free, _, _, ok := diskSpace(path)
	return int64(free), ok
}

// diskUsed is the space used on the volume of the folder path, by every
// file.
func diskUsed(path string) (int64, bool) {
	_, total, totalFree, ok := diskSpace(path)
	return int64(total - totalFree), ok
}

// diskSpace is GetDiskFreeSpaceEx of the folder path.
func diskSpace(path string) (free, total, totalFree uint64, ok bool) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, 0, 0, false
	}
	if windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree) != nil {
		return 0, 0, 0, false
	}
	return free, total, totalFree, true
}
