output "inventory" {
  description = "The site's machines as the Ansible inventory lists them: per role, in name order."
  value = {
    site      = var.site
    server_id = var.mariadb_server_id
    db        = local.by_role.db[0]
    app       = local.by_role.app
    mq        = local.by_role.mq
    search    = local.by_role.search
    bastion   = local.by_role.bastion
    edge      = local.by_role.edge
    # The site's Ansible group; the edge serves both sites and stays out of it.
    members = [for h in concat(local.by_role.db, local.by_role.app, local.by_role.mq, local.by_role.search, local.by_role.bastion) : h.name]
  }
}

output "hosts" {
  description = "Every machine by name: role, address on its role's network, management address, VM id and node."
  value       = local.hosts
}

output "networks" {
  description = "The site's networks: CIDR and VLAN id by name (db, app, svc, mgmt, dmz)."
  value       = local.networks
}

output "mac_addresses" {
  description = "MAC addresses of every machine's NICs (role network, management), for switch port security."
  value       = { for name, vm in module.vm : name => vm.mac_addresses }
}
