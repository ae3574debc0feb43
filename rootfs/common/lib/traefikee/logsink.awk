# /lib/traefikee/logsink.awk — the daemon's log: every line goes to the
# console (unless console=0) and to a file that is rotated when it reaches
# max bytes, keeping keep older files (file.1 … file.keep). The log can
# therefore never take more than max * (keep + 1) bytes.
#
#   awk -v file=/var/log/traefikee/traefikee.log -v max=1048576 -v keep=2 \
#       -v start=<current size of file> -v console=1 -f logsink.awk
BEGIN {
	if (max < 4096) max = 4096
	if (keep < 1) keep = 1
	size = start + 0
}
{
	if (console) { print > "/dev/console"; fflush("/dev/console") }
	print >> file
	fflush(file)
	size += length($0) + 1
	if (size >= max) {
		close(file)
		for (i = keep; i > 1; i--)
			system("mv -f '" file "." (i - 1) "' '" file "." i "' 2>/dev/null")
		system("mv -f '" file "' '" file ".1'")
		size = 0
	}
}
