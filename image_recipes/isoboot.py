"""Boot loader pieces of the node media: grub menus, the EFI image, the xorriso call, PXE configs.

BIOS: grub's i386-pc El Torito image (all modules built in) plus grub's hybrid MBR, so the ISO
boots from CD and from a USB stick. UEFI: Debian's signed shim as BOOTX64.EFI and Debian's signed
CD grub (gcdx64) as grubx64.efi in a FAT image, also appended as an EFI system partition. The
signed grub finds the medium by /.disk/info and reads /boot/grub/grub.cfg: one menu for both.
"""

from __future__ import annotations

import os

from nodecore.runner import Runner

SERIAL = "console=tty0 console=ttyS0,115200n8"
# Default entry: the kernel and systemd talk to tty0 (the screen) and to ttyS0: the console
# appears on both, so a rack with only a serial line and a desk with only a screen both work.
BOTH = "console=ttyS0,115200n8 console=tty0"

GRUB_BIOS_MODULES = ("biosdisk iso9660 part_msdos part_gpt normal configfile linux search search_fs_file "
                     "search_label echo test serial terminal chain ls cat gzio boot halt reboot sleep").split()

REPRODUCIBILITY_NOTE = (
    "squashfs, initrd and ISO are bit-reproducible for the same inputs; no bytes are known to differ. "
    "Measured: dev builds of one source tree, the second from an empty cache (fresh mmdebstrap), and "
    "two --release builds of one tree (staged root, xz squashfs and ISO redone) gave identical sha256. "
    "Pinned: SOURCE_DATE_EPOCH (mmdebstrap, mkinitramfs, pip, compileall unchecked-hash .pyc), "
    "mksquashfs -all-time/-mkfs-time, mkfs.fat --invariant, every ISO file and directory mtime, "
    "xorriso --modification-date. The engine appliance qcow2 is not checked (qemu-img convert -c).")

PXE_LOADERS = ("/usr/lib/PXELINUX/pxelinux.0", "/usr/lib/PXELINUX/lpxelinux.0",
               "/usr/lib/syslinux/modules/bios/ldlinux.c32")
# UEFI network boot from the image root: (source, name in build/pxe). The DHCP boot file is
# bootx64.efi (shim); shim loads grubx64.efi from the same TFTP directory (mmx64.efi for MOK).
PXE_EFI_LOADERS = (("usr/lib/shim/shimx64.efi.signed", "bootx64.efi"),
                   ("usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", "grubx64.efi"),
                   ("usr/lib/shim/mmx64.efi.signed", "mmx64.efi"))


def grub_cfg(cmdline: str, version: str) -> str:
    live = f"/live/vmlinuz {cmdline}"
    return f"""# hcinode {version} boot menu (BIOS and UEFI)
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
# one second: the menu shows (any key stops the countdown) without adding seconds to every boot
set timeout_style=menu
set timeout=1
set default=0

menuentry "Install hcinode" {{
    linux {live} {BOTH}
    initrd /live/initrd.img
}}
menuentry "Install hcinode (serial console)" {{
    linux {live} {SERIAL} hcinode.console=serial
    initrd /live/initrd.img
}}
menuentry "Rescue shell" {{
    linux {live} {BOTH} systemd.unit=rescue.target systemd.setenv=SYSTEMD_SULOGIN_FORCE=1
    initrd /live/initrd.img
}}
menuentry "Boot first local disk" {{
    if [ "$grub_platform" = "efi" ]; then
        exit
    else
        set root=(hd0)
        chainloader +1
        boot
    fi
}}
"""


def populate(runner: Runner, staging: str, *, root: str, cmdline: str, version: str, epoch: int) -> None:
    """Add boot loaders and menus to the ISO staging tree (live/ is already there)."""
    grub_dir = os.path.join(staging, "boot/grub")
    os.makedirs(os.path.join(grub_dir, "i386-pc"), exist_ok=True)
    os.makedirs(os.path.join(staging, ".disk"), exist_ok=True)
    runner.write_file(os.path.join(staging, ".disk/info"), f"hcinode {version}\n")
    runner.write_file(os.path.join(grub_dir, "grub.cfg"), grub_cfg(cmdline, version))
    runner.run(["grub-mkimage", "-O", "i386-pc-eltorito", "-d", "/usr/lib/grub/i386-pc", "-p", "/boot/grub",
                "-o", os.path.join(grub_dir, "i386-pc/eltorito.img"), *GRUB_BIOS_MODULES])
    efi_img = efi_image_path(staging)
    shim = _first(os.path.join(root, "usr/lib/shim/shimx64.efi.signed"), "/usr/lib/shim/shimx64.efi.signed")
    mok = _first(os.path.join(root, "usr/lib/shim/mmx64.efi.signed"), "/usr/lib/shim/mmx64.efi.signed")
    grub = _first(os.path.join(root, "usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed"),
                  "/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed")
    env = {"SOURCE_DATE_EPOCH": str(epoch)}
    # just big enough for the three loaders (the image is appended to the ISO whole): their size
    # plus room for FAT tables and cluster slack
    kib = (sum(os.path.getsize(f) for f in (shim, grub, mok)) // 1024) * 21 // 20 + 256
    runner.run(["mkfs.fat", "-C", "--invariant", "-n", "HCINODE_EFI", efi_img, str(kib)], env=env)
    runner.run(["mmd", "-i", efi_img, "::/EFI", "::/EFI/boot"], env=env)
    for src, name in ((shim, "bootx64.efi"), (grub, "grubx64.efi"), (mok, "mmx64.efi")):
        runner.run(["mcopy", "-m", "-i", efi_img, src, f"::/EFI/boot/{name}"], env=env)
    # No second copy in the ISO 9660 tree (5.7 MB): UEFI firmware boots the El Torito EFI image
    # (CD/DVD, virtual media) or the GPT EFI partition (USB stick written with dd), both this image.


def efi_image_path(staging: str) -> str:
    # outside the ISO tree: it is appended as partition 2 and El Torito points at that partition
    return staging.rstrip("/") + "-efi.img"


def _first(*paths: str) -> str:
    for path in paths:
        if os.path.exists(path):
            return path
    raise RuntimeError(f"boot loader file not found: {paths[0]} (install shim-signed / grub-efi-amd64-signed)")


def xorriso_argv(staging: str, out: str, volume_id: str, epoch: int) -> list[str]:
    """grub-mkrescue's hybrid layout, with fixed dates so the same tree gives the same ISO."""
    import datetime

    stamp = datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y%m%d%H%M%S00")
    return ["xorriso", "-as", "mkisofs", "-quiet", "-r", "-J", "-joliet-long", "-V", volume_id,
            "--modification-date=" + stamp,
            # the layout Ubuntu's ISOs use: grub's hybrid MBR, an appended EFI system partition in a GPT
            "--grub2-mbr", "/usr/lib/grub/i386-pc/boot_hybrid.img", "-partition_offset", "16",
            "--mbr-force-bootable",
            "-append_partition", "2", "28732ac11ff8d211ba4b00a0c93ec93b", efi_image_path(staging),
            "-appended_part_as_gpt", "-iso_mbr_part_type", "a2a0d0ebe5b9334487c068b6b72699c7",
            "-c", "/boot.catalog",
            "-b", "/boot/grub/i386-pc/eltorito.img", "-no-emul-boot", "-boot-load-size", "4",
            "-boot-info-table", "--grub2-boot-info",
            "-eltorito-alt-boot", "-e", "--interval:appended_partition_2:::", "-no-emul-boot",
            "-o", out, staging]


def pxe_configs(cmdline: str) -> dict[str, str]:
    """boot.ipxe (iPXE, e.g. QEMU's NIC ROM), grub/grub.cfg + grub/hcinode.cfg (UEFI network
    boot), pxelinux.cfg/default.

    The squashfs is fetched by live-boot over HTTP (fetch= needs an IP address, not a name).
    boot.ipxe takes the HTTP base from ${hcinode-base} (default: http://<next-server>) and extra
    kernel arguments from ${hcinode-extra}, so a wrapper script can `set` them and `chain boot.ipxe`.
    """
    # BOOTIF= names the NIC that booted (pxelinux's IPAPPEND 2 form, 01-<MAC with dashes>), as dracut
    # and anaconda expect: live-boot DHCPs on that NIC for the squashfs, and the live system's
    # NetworkManager profile (nm-initrd-generator, hcinode-cmdline-network) is bound to its MAC, so
    # the kickstart is fetched over the network that booted, not over whichever NIC came up first.
    # netX is iPXE's most recently opened device: the one it booted from.
    ipxe_kernel = (f"kernel ${{hcinode-base}}/vmlinuz initrd=initrd.img {cmdline} "
                   f"fetch=${{hcinode-base}}/filesystem.squashfs BOOTIF=01-${{netX/mac:hexhyp}} {BOTH} "
                   "${hcinode-extra}")
    ipxe = f"""#!ipxe
# hcinode PXE boot. Serve this directory over TFTP and HTTP; set hcinode-base to the HTTP URL of
# this directory when it is not http://<next-server>/ (a wrapper script can set it and chain us).
isset ${{hcinode-base}} || set hcinode-base http://${{next-server}}
isset ${{hcinode-extra}} || set hcinode-extra
{ipxe_kernel}
initrd ${{hcinode-base}}/initrd.img
boot
"""
    # Debian's signed grubnetx64 has the prefix /grub on the server that sent it: it reads
    # grub/grub.cfg (tftp), the site's file: it may set hcinode_base (the HTTP URL of this
    # directory, default http://<that server>) and hcinode_extra (more kernel arguments), like
    # boot.ipxe's wrapper, then sources the menu, grub/hcinode.cfg. (A guarded `source` of an
    # optional file does not work: `[ -f ... ]` is always false on tftp, which cannot list.)
    # The kernel and initrd come over TFTP; live-boot fetches the squashfs over HTTP.
    grub_site = """# hcinode UEFI network boot: bootx64.efi (Debian's signed shim) loads grubx64.efi (signed
# grubnetx64), which reads this file from the TFTP server. Site settings go here, e.g.
#   set hcinode_base=http://192.0.2.1:8080/hcinode
#   set hcinode_extra="inst.ks=http://192.0.2.1:8080/ks.cfg"
source $prefix/hcinode.cfg
"""
    grub_linux = f"linux /vmlinuz {cmdline} fetch=${{hcinode_base}}/filesystem.squashfs $hcinode_bootif"
    grub = f"""# hcinode UEFI network boot menu (sourced by grub/grub.cfg, which may set hcinode_base/_extra)
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
# one second: the menu shows (any key stops the countdown) without adding seconds to every boot
set timeout_style=menu
set timeout=1
set default=0
if [ -z "$hcinode_base" ]; then
    set hcinode_base=http://$net_default_server
fi
# BOOTIF= as in boot.ipxe. grub has the MAC with colons only (01-52:54:00:12:34:56): nm-initrd-generator
# and live-boot accept that form too. Set here: net_default_mac is computed when read, and a menu
# entry's context gets copies of exported values only.
if [ -n "$net_default_mac" ]; then
    set hcinode_bootif="BOOTIF=01-$net_default_mac"
fi
# a menu entry runs in a new context that sees exported variables only
export hcinode_base
export hcinode_extra
export hcinode_bootif
menuentry "Install hcinode (network)" {{
    {grub_linux} {BOTH} $hcinode_extra
    initrd /initrd.img
}}
menuentry "Install hcinode (network, serial console)" {{
    {grub_linux} {SERIAL} hcinode.console=serial $hcinode_extra
    initrd /initrd.img
}}
"""
    pxelinux = f"""# hcinode BIOS PXE boot (pxelinux.0). Replace PXE_SERVER with the IP address of the HTTP server
# that serves this directory (live-boot's fetch= needs an address, not a name).
DEFAULT hcinode
TIMEOUT 10
PROMPT 1
SERIAL 0 115200
# IPAPPEND 2 (per label) appends BOOTIF=01-<MAC of the booting NIC>, as in boot.ipxe
LABEL hcinode
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND {cmdline} fetch=http://PXE_SERVER/filesystem.squashfs {BOTH}
  IPAPPEND 2
LABEL hcinode-serial
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND {cmdline} fetch=http://PXE_SERVER/filesystem.squashfs {SERIAL} hcinode.console=serial
  IPAPPEND 2
"""
    return {"boot.ipxe": ipxe, "grub/grub.cfg": grub_site, "grub/hcinode.cfg": grub,
            "pxelinux.cfg/default": pxelinux}
