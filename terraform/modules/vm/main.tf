# One machine: a Proxmox VE VM made from the cloud image, its NICs on the site's VNets, and its
# first boot (account, keys, addresses, data disks, role packages) done by cloud-init.

locals {
  # Proxmox VE gives every SCSI disk a stable id by its slot; sdX names depend on probe order.
  data_disks = [
    for i, disk in var.data_disks : merge(disk, {
      interface = "scsi${i + 1}"
      device    = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi${i + 1}"
      label     = "data${i + 1}"
    })
  ]

  user_data = join("\n", ["#cloud-config", yamlencode({
    hostname         = var.name
    fqdn             = "${var.name}.${var.dns_domain}"
    manage_etc_hosts = true
    ssh_pwauth       = false
    users = [{
      name                = var.admin_user
      shell               = "/bin/bash"
      sudo                = "ALL=(ALL) NOPASSWD:ALL"
      lock_passwd         = true
      ssh_authorized_keys = var.ssh_keys
    }]
    fs_setup = [for disk in local.data_disks : {
      device     = disk.device
      filesystem = "ext4"
      label      = disk.label
      overwrite  = false
    }]
    mounts         = [for disk in local.data_disks : ["LABEL=${disk.label}", disk.mount, "ext4", "defaults,nofail", "0", "2"]]
    package_update = true
    packages       = concat(["qemu-guest-agent"], var.cloud_config.packages)
    write_files    = var.cloud_config.write_files
    runcmd         = concat(["systemctl enable --now qemu-guest-agent"], var.cloud_config.runcmd)
  })])
}

resource "proxmox_virtual_environment_file" "user_data" {
  content_type = "snippets"
  datastore_id = var.snippets_datastore_id
  node_name    = var.node_name

  source_raw {
    data      = local.user_data
    file_name = "${var.name}.cloud-config.yaml"
  }
}

resource "proxmox_virtual_environment_vm" "this" {
  name          = var.name
  description   = "Pola ${var.role} (${var.site}), managed by terraform/"
  tags          = ["pola", var.site, var.role]
  node_name     = var.node_name
  vm_id         = var.vm_id
  on_boot       = true
  started       = true
  protection    = var.protected
  scsi_hardware = "virtio-scsi-single"

  agent {
    enabled = true
  }

  cpu {
    cores = var.cores
    type  = "x86-64-v2-AES"
  }

  memory {
    dedicated = var.memory_mb
  }

  operating_system {
    type = "l26"
  }

  disk {
    datastore_id = var.datastore_id
    import_from  = var.image_id
    interface    = "scsi0"
    size         = var.disk_gb
    iothread     = true
    discard      = "on"
  }

  dynamic "disk" {
    for_each = local.data_disks
    content {
      datastore_id = var.datastore_id
      interface    = disk.value.interface
      size         = disk.value.size_gb
      file_format  = "raw"
      iothread     = true
      discard      = "on"
    }
  }

  dynamic "network_device" {
    for_each = var.nics
    content {
      bridge   = network_device.value.bridge
      model    = "virtio"
      firewall = true
    }
  }

  initialization {
    datastore_id      = var.datastore_id
    user_data_file_id = proxmox_virtual_environment_file.user_data.id

    dns {
      domain  = var.dns_domain
      servers = var.dns_servers
    }

    dynamic "ip_config" {
      for_each = var.nics
      content {
        ipv4 {
          address = ip_config.value.address
          gateway = ip_config.value.gateway
        }
      }
    }
  }

  serial_device {}
}
