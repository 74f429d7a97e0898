/**
 * fw_cfg: how the QEMU driver hands per-instance files to the guest at boot (no disk, no network needed).
 * The guest finds the entries under /sys/firmware/qemu_fw_cfg/by_name/<prefix>/; the prefix reaches it on
 * the kernel command line (`berth.fwcfg=`), so nothing in the image repeats it.
 */
export const FW_CFG_PREFIX = 'opt/berth';
