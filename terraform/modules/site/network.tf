# The site's VLANs as SDN VNets of one VLAN zone on the nodes' uplink bridge. Routing between
# them, and the DMZ's stretch over the DC–DR link, belong to the sites' firewalls and switches
# (gateway .1 on every network).

resource "proxmox_sdn_zone_vlan" "site" {
  id     = "pola${var.site}"
  bridge = var.bridge
  nodes  = var.nodes
}

resource "proxmox_sdn_vnet" "net" {
  for_each = local.networks

  id    = "${var.site}${each.key}"
  zone  = proxmox_sdn_zone_vlan.site.id
  tag   = each.value.vlan_id
  alias = "Pola ${var.site} ${each.key}"
}

resource "proxmox_sdn_subnet" "net" {
  for_each = local.networks

  vnet    = proxmox_sdn_vnet.net[each.key].id
  cidr    = each.value.cidr
  gateway = cidrhost(each.value.cidr, 1)
}

# SDN changes are pending until applied; the VMs' NICs need the VNets live.
resource "proxmox_sdn_applier" "site" {
  depends_on = [proxmox_sdn_subnet.net]

  lifecycle {
    replace_triggered_by = [proxmox_sdn_zone_vlan.site, proxmox_sdn_vnet.net, proxmox_sdn_subnet.net]
  }
}
