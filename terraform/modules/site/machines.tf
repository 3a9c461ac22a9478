locals {
  # The bastion's own address on the VPN, and its peers'.
  vpn_address = cidrhost(var.vpn_cidr, 1)
  vpn_peers   = { for name, peer in var.vpn_peers : name => { public_key = peer.public_key, address = cidrhost(var.vpn_cidr, peer.host) } }

  # What the roles add to cloud-init; Ansible (site.yml) installs the rest.
  no_cloud_config = { packages = [], write_files = [], runcmd = [] }
  cloud_config = {
    # keepalived holds the VIP on one edge; the config names the DMZ interface once it is known.
    edge = {
      packages = ["keepalived"]
      write_files = [{
        path        = "/etc/keepalived/keepalived.conf"
        permissions = "0644"
        content = templatefile("${path.module}/templates/keepalived.conf.tftpl", {
          vip       = "${local.vip}/${local.prefix.dmz}"
          priority  = var.dmz.vrrp_priority
          router_id = var.dmz.vip_host
        })
      }]
      runcmd = [
        "sed -i \"s/DMZ_INTERFACE/$(ip -o -4 addr show to ${var.dmz.cidr} | awk '{print $2}')/\" /etc/keepalived/keepalived.conf",
        "systemctl restart keepalived",
      ]
    }
    # The private key is made here at first boot and never leaves the bastion.
    bastion = {
      packages = ["wireguard-tools"]
      write_files = [
        {
          path        = "/etc/wireguard/wg0.conf"
          permissions = "0600"
          content = templatefile("${path.module}/templates/wg0.conf.tftpl", {
            address = "${local.vpn_address}/${split("/", var.vpn_cidr)[1]}"
            port    = var.vpn_port
            peers   = local.vpn_peers
          })
        },
        {
          path        = "/etc/sysctl.d/90-pola-vpn.conf"
          permissions = "0644"
          content     = "net.ipv4.ip_forward = 1\n"
        },
      ]
      runcmd = [
        "sh -c 'umask 077; test -f /etc/wireguard/wg0.key || wg genkey > /etc/wireguard/wg0.key'",
        "sysctl --system",
        "systemctl enable --now wg-quick@wg0",
      ]
    }
  }
}

# The cloud image, once per node (VMs import their system disk from the node's copy).
resource "proxmox_download_file" "image" {
  for_each = toset(var.nodes)

  content_type = "import"
  datastore_id = var.files_datastore_id
  node_name    = each.key
  url          = var.image_url
}

module "vm" {
  source   = "../vm"
  for_each = local.hosts

  name                  = each.key
  site                  = var.site
  role                  = each.value.role
  node_name             = each.value.node
  vm_id                 = each.value.vm_id
  cores                 = local.roles[each.value.role].cores
  memory_mb             = local.roles[each.value.role].memory_mb
  disk_gb               = local.roles[each.value.role].disk_gb
  data_disks            = lookup(local.data_disks, each.value.role, [])
  protected             = local.roles[each.value.role].protected
  datastore_id          = var.datastore_id
  snippets_datastore_id = var.files_datastore_id
  image_id              = proxmox_download_file.image[each.value.node].id
  dns_domain            = var.dns_domain
  dns_servers           = var.dns_servers
  admin_user            = var.admin_user
  ssh_keys              = var.ssh_keys
  cloud_config          = lookup(local.cloud_config, each.value.role, local.no_cloud_config)

  # The role's network carries the default route; management is the second NIC.
  nics = [
    {
      bridge  = proxmox_sdn_vnet.net[each.value.network].id
      address = "${each.value.address}/${local.prefix[each.value.network]}"
      gateway = cidrhost(local.networks[each.value.network].cidr, 1)
    },
    {
      bridge  = proxmox_sdn_vnet.net["mgmt"].id
      address = "${each.value.mgmt_address}/${local.prefix.mgmt}"
      gateway = null
    },
  ]

  depends_on = [proxmox_sdn_applier.site]
}
