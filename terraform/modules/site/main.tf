# One site: its VLANs as Proxmox VE SDN VNets, and its machines (database, application servers,
# broker, search, its edge and its WireGuard bastion). Addresses are computed here from the plan
# the root module gives, and leave through outputs.inventory into the Ansible inventory.

locals {
  # The site's networks (the DMZ is shared with the other site, the rest are its own).
  networks = {
    db   = { cidr = cidrsubnet(var.address_space, 8, 1), vlan_id = var.vlan_base + 1 }
    app  = { cidr = cidrsubnet(var.address_space, 8, 2), vlan_id = var.vlan_base + 2 }
    svc  = { cidr = cidrsubnet(var.address_space, 8, 3), vlan_id = var.vlan_base + 3 }
    mgmt = { cidr = cidrsubnet(var.address_space, 8, 9), vlan_id = var.vlan_base + 9 }
    dmz  = { cidr = var.dmz.cidr, vlan_id = var.dmz.vlan_id }
  }

  # What each kind of machine gets. `first`: its machines' management host numbers (and VM ids)
  # count up from first + 1.
  roles = {
    db      = { network = "db", cores = 8, memory_mb = 32768, disk_gb = 32, protected = true, first = 10 }
    app     = { network = "app", cores = 4, memory_mb = 8192, disk_gb = 32, protected = false, first = 20 }
    mq      = { network = "svc", cores = 2, memory_mb = 4096, disk_gb = 32, protected = false, first = 30 }
    search  = { network = "svc", cores = 4, memory_mb = 16384, disk_gb = 32, protected = false, first = 40 }
    edge    = { network = "dmz", cores = 2, memory_mb = 4096, disk_gb = 32, protected = false, first = 50 }
    bastion = { network = "dmz", cores = 1, memory_mb = 1024, disk_gb = 16, protected = false, first = 60 }
  }

  # Disks beside the system disk, by role; the paths are the ones the playbooks use.
  data_disks = {
    db     = [{ size_gb = 500, mount = "/var/lib/mysql" }, { size_gb = 1000, mount = "/srv/backups" }]
    mq     = [{ size_gb = 50, mount = "/var/lib/rabbitmq" }]
    search = [{ size_gb = 500, mount = "/var/lib/opensearch" }]
  }

  # Every machine by name: its role, its number among the role's machines, and its host number
  # on the role's network.
  machines = merge(
    { "${var.site}-db-1" = { role = "db", index = 1, host = 10 } },
    { for i in range(1, var.app_count + 1) : "${var.site}-app-${i}" => { role = "app", index = i, host = 10 + i } },
    { "${var.site}-mq-1" = { role = "mq", index = 1, host = 10 } },
    { "${var.site}-search-1" = { role = "search", index = 1, host = 20 } },
    { (var.dmz.edge_name) = { role = "edge", index = 1, host = var.dmz.edge_host } },
    { "${var.site}-bastion-1" = { role = "bastion", index = 1, host = var.dmz.bastion_host } },
  )

  hosts = {
    for name, m in local.machines : name => {
      name         = name
      role         = m.role
      network      = local.roles[m.role].network
      address      = cidrhost(local.networks[local.roles[m.role].network].cidr, m.host)
      mgmt_address = cidrhost(local.networks.mgmt.cidr, local.roles[m.role].first + m.index)
      vm_id        = var.vm_id_base + local.roles[m.role].first + m.index
      node         = element(var.nodes, m.index - 1)
    }
  }

  # Per role, its machines in name order (app-1 … app-9).
  by_role = { for role in keys(local.roles) : role => [for name, h in local.hosts : h if h.role == role] }

  prefix = { for key, net in local.networks : key => split("/", net.cidr)[1] }
  vip    = cidrhost(var.dmz.cidr, var.dmz.vip_host)
}
