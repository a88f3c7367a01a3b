# The sysfs stat file of the block device holding a directory (the whole disk when its file
# system sits on a partition), or nothing on a file system without one (tmpfs, overlayfs,
# btrfs, ZFS). Its fields counted here: 5 writes, 7 sectors written (512 bytes), 8 ms spent
# writing, 10 ms busy, 16 flushes (Linux 5.5 on). The whole disk's: whatever else writes to it
# counts too. Sourced by tools/peer-bench/run.sh and commit-probe.sh.
block_stat() { # DIRECTORY
    local file
    file="/sys/dev/block/$(stat -c '%Hd:%Ld' "$1")"
    [ ! -e "$file/partition" ] || file="$file/.."
    if [ -f "$file/stat" ]; then realpath "$file/stat"; fi
}
