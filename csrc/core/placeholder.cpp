int vt_placeholder() { return 0; }
