variable "proxmox_endpoints" {
  description = "API URL of each site's Proxmox VE cluster."
  type = object({
    dc = string
    dr = string
  })

  validation {
    condition     = startswith(var.proxmox_endpoints.dc, "https://") && startswith(var.proxmox_endpoints.dr, "https://")
    error_message = "The Proxmox VE API is reached over HTTPS only."
  }
}

variable "proxmox_api_tokens" {
  description = "API token of each site's cluster (user@realm!token=secret). Set TF_VAR_proxmox_api_tokens='{dc=\"…\",dr=\"…\"}'; never in a file."
  type = object({
    dc = string
    dr = string
  })
  sensitive = true
  ephemeral = true
}

variable "proxmox_insecure" {
  description = "Skip TLS verification of the Proxmox VE API (only while the clusters have self-signed certificates)."
  type        = bool
  default     = false
}

variable "proxmox_ssh_user" {
  description = "User the provider logs in to the nodes as over SSH (keys from ssh-agent) to upload cloud-init snippets."
  type        = string
  default     = "root"
}

variable "proxmox_nodes" {
  description = "Each site's Proxmox VE nodes; machines of a role are spread over them in order."
  type = object({
    dc = list(string)
    dr = list(string)
  })
}

variable "dns_servers" {
  description = "Resolvers of each site's machines."
  type = object({
    dc = list(string)
    dr = list(string)
  })
}

variable "dns_domain" {
  description = "Internal DNS domain; a site's machines are <name>.<site>.<dns_domain>."
  type        = string
  default     = "pola.internal"
}

variable "ops_ssh_keys" {
  description = "SREs' public SSH keys, allowed to log in as the inventory's ansible_user on every machine."
  type        = list(string)

  validation {
    condition     = length(var.ops_ssh_keys) > 0 && alltrue([for key in var.ops_ssh_keys : startswith(key, "ssh-") || startswith(key, "ecdsa-")])
    error_message = "At least one key, in OpenSSH public key format."
  }
}

variable "vpn_peers" {
  description = "SREs on the WireGuard VPN: name => public key and host number, the same in both sites' VPN ranges."
  type = map(object({
    public_key = string
    host       = number
  }))
  default = {}

  validation {
    condition     = alltrue([for peer in values(var.vpn_peers) : peer.host >= 2 && peer.host <= 254])
    error_message = "Peers' host numbers run from 2 to 254 (.1 is the bastion)."
  }
}

variable "image_url" {
  description = "The cloud image every machine starts from (Debian, as the playbooks install Debian's packages)."
  type        = string
  default     = "https://cloud.debian.org/images/cloud/trixie/latest/debian-13-genericcloud-amd64.qcow2"
}
