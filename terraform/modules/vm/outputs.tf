output "vm_id" {
  description = "The VM id in the site's cluster."
  value       = proxmox_virtual_environment_vm.this.vm_id
}

output "mac_addresses" {
  description = "MAC addresses of the NICs, in the order of var.nics (for DHCP reservations and switch port security)."
  value       = proxmox_virtual_environment_vm.this.mac_addresses
}
