"""The automations service: rules over events that cancel (or change) runs, scaled by replicas."""
