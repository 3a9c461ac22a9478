# Both on-prem sites, from one shared module: the address plan lives here, and the Ansible
# `onprem` inventory is generated from it (outputs.tf), so an address is written down once.

locals {
  # The account Ansible and SREs log in as on every machine.
  ops_user = "pola-ops"

  # The DMZ is one VLAN stretched over the DC–DR link, so that the edges' VIP (.10) can move to
  # the surviving site's edge.
  dmz = {
    cidr     = "10.0.0.0/24"
    vlan_id  = 100
    vip_host = 10
  }
}

module "dc" {
  source    = "./modules/site"
  providers = { proxmox = proxmox.dc }

  site              = "dc"
  nodes             = var.proxmox_nodes.dc
  address_space     = "10.10.0.0/16"
  vlan_base         = 110
  vm_id_base        = 1000
  dmz               = merge(local.dmz, { edge_name = "edge-1", edge_host = 11, bastion_host = 21, vrrp_priority = 150 })
  vpn_cidr          = "10.99.10.0/24"
  mariadb_server_id = 1
  vpn_peers         = var.vpn_peers
  image_url         = var.image_url
  dns_domain        = "dc.${var.dns_domain}"
  dns_servers       = var.dns_servers.dc
  admin_user        = local.ops_user
  ssh_keys          = var.ops_ssh_keys
}

module "dr" {
  source    = "./modules/site"
  providers = { proxmox = proxmox.dr }

  site              = "dr"
  nodes             = var.proxmox_nodes.dr
  address_space     = "10.20.0.0/16"
  vlan_base         = 120
  vm_id_base        = 2000
  dmz               = merge(local.dmz, { edge_name = "edge-2", edge_host = 12, bastion_host = 22, vrrp_priority = 100 })
  vpn_cidr          = "10.99.20.0/24"
  mariadb_server_id = 2
  vpn_peers         = var.vpn_peers
  image_url         = var.image_url
  dns_domain        = "dr.${var.dns_domain}"
  dns_servers       = var.dns_servers.dr
  admin_user        = local.ops_user
  ssh_keys          = var.ops_ssh_keys
}
