# Tacker v2 mgmt-driver entry point: delegates every LCM hook to vnf-mgmt.
from vnf_mgmt.tacker_v2 import main
main()
