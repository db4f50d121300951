"""Launch a process, container or Job as a tracked flow run (`cancelbus run ...`)."""
