output "ansible_inventory" {
  description = "ansible/inventories/onprem/hosts.yml: tofu -chdir=terraform output -raw ansible_inventory > ansible/inventories/onprem/hosts.yml"
  value = templatefile("${path.module}/templates/inventory.yml.tftpl", {
    ops_user = local.ops_user
    sites    = [module.dc.inventory, module.dr.inventory]
  })
}

output "edge_vip" {
  description = "The address the edge answers on (public DNS points at its NAT)."
  value       = cidrhost(local.dmz.cidr, local.dmz.vip_host)
}

output "hosts" {
  description = "Every machine of both sites by name: role, addresses, VM id and node."
  value       = merge(module.dc.hosts, module.dr.hosts)
}

output "mac_addresses" {
  description = "MAC addresses of every machine's NICs."
  value       = merge(module.dc.mac_addresses, module.dr.mac_addresses)
}
