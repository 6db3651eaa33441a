"""The project's Pulumi policy pack: `pulumi preview --policy-pack policy`."""
