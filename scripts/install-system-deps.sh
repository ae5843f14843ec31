#!/usr/bin/env bash
# Install the Debian packages the rig and its tests use (tshark/dumpcap, socat, lrzsz, xxd and hexdump for
# the hex-dump decoder's tests, gcab, 7zip, ncompress, lzip, lzop and arj for the cabinet, 7z, LZW, lzip
# and unreadable-format decoders', Samba (smbd, smbclient, pdbedit) for the SMB parser's, tftp-hpa's
# client and server for the TFTP parser's, Mosquitto and RabbitMQ for the MQTT and AMQP parsers', headless
# chromium + driver, nftables for the network tap's transparent mode and iptables for its --block packet
# queue, curl as a real client, dosfstools, mtools and exfatprogs for USB stick images, libusb-1.0 for
# pyusb's device inventory, PostgreSQL for the fleet store's tests, which start a cluster of their own
# with initdb/pg_ctl in a temp dir, wireguard-go and wg for a real WireGuard client).
# Installs only what is missing; needs root and apt-get, otherwise says what to install.
set -euo pipefail
need=()
command -v tshark      >/dev/null 2>&1 || need+=(tshark)
command -v editcap     >/dev/null 2>&1 || need+=(wireshark-common)
command -v socat       >/dev/null 2>&1 || need+=(socat)
command -v sz          >/dev/null 2>&1 || need+=(lrzsz)
command -v xxd         >/dev/null 2>&1 || need+=(xxd)
command -v hexdump     >/dev/null 2>&1 || need+=(bsdextrautils)
command -v gcab        >/dev/null 2>&1 || need+=(gcab)
command -v 7zz         >/dev/null 2>&1 || need+=(7zip)
command -v compress    >/dev/null 2>&1 || need+=(ncompress)
command -v lzip        >/dev/null 2>&1 || need+=(lzip)
command -v lzop        >/dev/null 2>&1 || need+=(lzop)
command -v arj         >/dev/null 2>&1 || need+=(arj)
# Samba for the SMB tests, which start an smbd of their own on lo; the package's own is never started
quiet=()
[ -x /usr/sbin/smbd ]  || quiet+=(samba)
command -v smbclient   >/dev/null 2>&1 || quiet+=(smbclient)
# tftp-hpa for the TFTP tests, which start an in.tftpd of their own on lo (the package's is never started)
[ -x /usr/sbin/in.tftpd ] || quiet+=(tftpd-hpa)
# Mosquitto for the MQTT tests, which start a broker of their own on lo (the package's is never started)
[ -x /usr/sbin/mosquitto ] || quiet+=(mosquitto)
# RabbitMQ for the AMQP tests, which start a node of their own on lo (the package's is never started)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || quiet+=(rabbitmq-server)
command -v tftp        >/dev/null 2>&1 || need+=(tftp-hpa)
command -v chromium    >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v ip          >/dev/null 2>&1 || need+=(iproute2)
command -v nft         >/dev/null 2>&1 || need+=(nftables)
command -v curl        >/dev/null 2>&1 || need+=(curl)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
# USB stick images for the mass-storage tests: FAT12 (mkfs.fat + mtools), exFAT (mkfs.exfat, fsck.exfat)
PATH="$PATH:/usr/sbin:/sbin"
command -v mkfs.fat    >/dev/null 2>&1 || need+=(dosfstools)
command -v mcopy       >/dev/null 2>&1 || need+=(mtools)
command -v mkfs.exfat  >/dev/null 2>&1 || need+=(exfatprogs)
# transparent --block holds the instrument's UDP with iptables' NFQUEUE target (see hw/net/nft.py)
command -v iptables    >/dev/null 2>&1 || need+=(iptables)
# pyusb's backend: the USB tap lists the devices present through libusb-1.0 (sysfs without it)
case "$(ldconfig -p 2>/dev/null)" in *libusb-1.0.so*) ;; *) need+=(libusb-1.0-0) ;; esac
# a real WireGuard client for the WireGuard-mode tests: userspace (a TUN device), configured by wg;
# without their recommends, which would pull in a kernel image for the module
bare=()
command -v wireguard-go >/dev/null 2>&1 || bare+=(wireguard-go)
command -v wg          >/dev/null 2>&1 || bare+=(wireguard-tools)
[ ${#need[@]} -eq 0 ] && [ ${#bare[@]} -eq 0 ] && [ ${#quiet[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${need[*]} ${bare[*]} ${quiet[*]} (install them with apt-get as root)" >&2
  exit 1
fi
echo 'wireshark-common wireshark-common/install-setuid boolean true' | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# the postgresql package starts a cluster of its own where it can; the tests never use it
[ ${#need[@]} -eq 0 ] || apt-get install -y -qq "${need[@]}" >/dev/null
[ ${#bare[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${bare[@]}" >/dev/null
if [ ${#quiet[@]} -gt 0 ]; then
  # a policy that refuses every service start while they install (unless the machine has its own)
  own_policy=0
  [ -e /usr/sbin/policy-rc.d ] && own_policy=1
  [ $own_policy = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; }
  apt-get install -y -qq "${quiet[@]}" >/dev/null
  [ $own_policy = 1 ] || rm -f /usr/sbin/policy-rc.d
fi
