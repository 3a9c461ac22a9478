variable "name" {
  description = "Host name of the machine, also its VM name and the name Ansible knows it by."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.name))
    error_message = "The name must be a DNS label: lower-case letters, digits and dashes."
  }
}

variable "node_name" {
  description = "The Proxmox VE node the VM runs on."
  type        = string
}

variable "vm_id" {
  description = "The VM id, unique in the site's cluster."
  type        = number

  validation {
    condition     = var.vm_id >= 100 && var.vm_id <= 999999999
    error_message = "Proxmox VE VM ids run from 100 to 999999999."
  }
}

variable "role" {
  description = "What the machine is for (edge, app, db, mq, search, bastion): a tag on the VM."
  type        = string
}

variable "site" {
  description = "The site the machine belongs to (dc or dr): a tag on the VM."
  type        = string
}

variable "cores" {
  description = "Virtual CPU cores."
  type        = number
}

variable "memory_mb" {
  description = "Memory in MiB, all of it dedicated (no ballooning: databases and search size their caches by it)."
  type        = number
}

variable "disk_gb" {
  description = "Size of the system disk in GB, made from the cloud image."
  type        = number
}

variable "data_disks" {
  description = "Further disks, formatted ext4 and mounted at first boot, in order (scsi1, scsi2, …)."
  type = list(object({
    size_gb = number
    mount   = string
  }))
  default = []
}

variable "protected" {
  description = "Whether Proxmox VE refuses to remove the VM and its disks (set for databases)."
  type        = bool
  default     = false
}

variable "datastore_id" {
  description = "Datastore of the VM's disks and its cloud-init drive."
  type        = string
}

variable "snippets_datastore_id" {
  description = "Datastore (with the snippets content type) the cloud-config is uploaded to."
  type        = string
}

variable "image_id" {
  description = "File id of the cloud image (content type import) the system disk is made from."
  type        = string
}

variable "nics" {
  description = "Network interfaces in order: the bridge (SDN VNet), the address in CIDR notation, and the gateway for the one that carries the default route (null for the others)."
  type = list(object({
    bridge  = string
    address = string
    gateway = string
  }))

  validation {
    condition     = length(var.nics) > 0 && length([for nic in var.nics : nic if nic.gateway != null]) == 1
    error_message = "A machine needs at least one interface, and exactly one with a gateway."
  }
}

variable "dns_domain" {
  description = "The machine's DNS search domain."
  type        = string
}

variable "dns_servers" {
  description = "Resolvers the machine uses."
  type        = list(string)
}

variable "admin_user" {
  description = "The account SREs and Ansible log in as (key only, passwordless sudo)."
  type        = string
}

variable "ssh_keys" {
  description = "Public SSH keys allowed to log in as admin_user."
  type        = list(string)

  validation {
    condition     = length(var.ssh_keys) > 0
    error_message = "Without a key nobody can log in."
  }
}

variable "cloud_config" {
  description = "What the role adds to the machine's cloud-config: packages, files and first-boot commands."
  type = object({
    packages = list(string)
    write_files = list(object({
      path        = string
      content     = string
      permissions = string
    }))
    runcmd = list(string)
  })
  default = {
    packages    = []
    write_files = []
    runcmd      = []
  }
}
