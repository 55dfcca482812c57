//! hot-templates: turns a validated VNFD flavour plus an instantiate request into Heat
//! templates (HOT) and their `nfv` parameter, and checks hand-written BaseHOT templates.
//!
//! It never talks to OpenStack.
