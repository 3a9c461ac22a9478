# One Proxmox VE cluster per site. Tokens come from the environment (TF_VAR_proxmox_api_tokens),
# never from a file in the checkout.

provider "proxmox" {
  alias     = "dc"
  endpoint  = var.proxmox_endpoints.dc
  api_token = var.proxmox_api_tokens.dc
  insecure  = var.proxmox_insecure

  # Cloud-init snippets are uploaded over SSH; the API cannot write them.
  ssh {
    agent    = true
    username = var.proxmox_ssh_user
  }
}

provider "proxmox" {
  alias     = "dr"
  endpoint  = var.proxmox_endpoints.dr
  api_token = var.proxmox_api_tokens.dr
  insecure  = var.proxmox_insecure

  ssh {
    agent    = true
    username = var.proxmox_ssh_user
  }
}
