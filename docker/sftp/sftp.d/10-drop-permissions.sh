#!/bin/bash
# atmoz/sftp runs the executables in /etc/sftp.d before sshd starts. The drop folder is a named
# volume, which Docker creates owned by root: hand it to `seller` (uid 1001, group users) so the
# seller can upload. 0755 lets the Airflow scheduler, which mounts the same volume read-only at
# /opt/airflow/drop under another uid, read what the seller uploaded.
set -euo pipefail
chown 1001:100 /home/seller/drop
chmod 0755 /home/seller/drop
