//! ansible.cfg (being written)
