variable "site" {
  description = "The site: dc (primary) or dr (disaster recovery). Names its machines, Ansible group and SDN zone."
  type        = string

  validation {
    condition     = contains(["dc", "dr"], var.site)
    error_message = "The playbooks know two sites: dc and dr."
  }
}

variable "nodes" {
  description = "The site's Proxmox VE nodes. The n-th machine of a role runs on the n-th node (app-1 and app-2 apart)."
  type        = list(string)

  validation {
    condition     = length(var.nodes) > 0
    error_message = "A site needs at least one node."
  }
}

variable "bridge" {
  description = "The bridge on every node that carries the site's VLANs to the switches (the SDN zone's uplink)."
  type        = string
  default     = "vmbr0"
}

variable "address_space" {
  description = "The site's private /16: x.y.1.0/24 database, x.y.2.0/24 application, x.y.3.0/24 services (broker, search), x.y.9.0/24 management."
  type        = string

  validation {
    condition     = endswith(var.address_space, "/16")
    error_message = "The address plan cuts a /16 into /24s by number."
  }
}

variable "vlan_base" {
  description = "VLAN ids of the site's networks: base + 1 database, + 2 application, + 3 services, + 9 management."
  type        = number

  validation {
    condition     = var.vlan_base >= 2 && var.vlan_base + 9 <= 4094
    error_message = "VLAN ids run from 2 to 4094."
  }
}

variable "dmz" {
  description = "The DMZ both sites share (cidr, vlan_id, vip_host: the edges' VIP) and this site's part of it: its edge (edge_name, edge_host), its bastion's host number and its edge's VRRP priority."
  type = object({
    cidr          = string
    vlan_id       = number
    vip_host      = number
    edge_name     = string
    edge_host     = number
    bastion_host  = number
    vrrp_priority = number
  })

  validation {
    condition     = length(distinct([var.dmz.vip_host, var.dmz.edge_host, var.dmz.bastion_host])) == 3 && var.dmz.vip_host > 1
    error_message = "The VIP, the edge and the bastion need addresses of their own, apart from the gateway (.1)."
  }

  validation {
    condition     = var.dmz.vrrp_priority >= 1 && var.dmz.vrrp_priority <= 254
    error_message = "VRRP priorities run from 1 to 254."
  }
}

variable "app_count" {
  description = "How many application servers (pola serve) the site runs."
  type        = number
  default     = 2

  validation {
    condition     = var.app_count >= 1 && var.app_count <= 9
    error_message = "Between 1 and 9 application servers (their management addresses are .21 to .29)."
  }
}

variable "mariadb_server_id" {
  description = "MariaDB server_id of the site's database, unique across both sites (replication needs it)."
  type        = number

  validation {
    condition     = var.mariadb_server_id >= 1
    error_message = "server_id 0 refuses replication."
  }
}

variable "vm_id_base" {
  description = "VM ids of the site's machines: base + the host number of their management address."
  type        = number
}

variable "vpn_cidr" {
  description = "Addresses the site's WireGuard bastion gives SREs (.1 is the bastion); inside the edge's vpn_ranges."
  type        = string
}

variable "vpn_port" {
  description = "UDP port the bastion's WireGuard listens on (the site firewall forwards it from the public address)."
  type        = number
  default     = 51820
}

variable "vpn_peers" {
  description = "SREs allowed on the VPN: name => their WireGuard public key and host number in vpn_cidr."
  type = map(object({
    public_key = string
    host       = number
  }))
}

variable "image_url" {
  description = "The cloud image (qcow2) every machine starts from; downloaded to each node."
  type        = string
}

variable "datastore_id" {
  description = "Datastore of the VMs' disks."
  type        = string
  default     = "local-lvm"
}

variable "files_datastore_id" {
  description = "Datastore (content types import and snippets) for the cloud image and the cloud-config files."
  type        = string
  default     = "local"
}

variable "dns_domain" {
  description = "The site's DNS domain (machines are <name>.<dns_domain>)."
  type        = string
}

variable "dns_servers" {
  description = "Resolvers the site's machines use."
  type        = list(string)
}

variable "admin_user" {
  description = "The account SREs and Ansible log in as (the inventory's ansible_user)."
  type        = string
}

variable "ssh_keys" {
  description = "SREs' public SSH keys."
  type        = list(string)
}
