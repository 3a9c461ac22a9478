terraform {
  # 1.11: ephemeral variables keep the API tokens out of state and plan files (OpenTofu and
  # Terraform both).
  required_version = ">= 1.11.0"

  required_providers {
    proxmox = {
      source  = "bpg/proxmox"
      version = "~> 0.111"
    }
  }
}
