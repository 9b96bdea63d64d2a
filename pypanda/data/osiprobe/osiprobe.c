// SPDX-License-Identifier: GPL-2.0
/*
 * pypanda OSI probe.
 *
 * Never linked, never loaded: pypanda.osi.profile compiles this file against
 * the linux-headers package of a kernel that ships no BTF (Debian's 32-bit
 * kernels) and runs `pahole --btf_encode_detached` over the object, which
 * gives the layouts of exactly the structs the OS introspection reads.
 *
 * Each struct appears as the pointed-to type of a global pointer: gcc then
 * emits its full DWARF definition, which is all pahole needs.  Globals (not
 * statics) so -O2 cannot drop them.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/mm_types.h>
#include <linux/maple_tree.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/path.h>
#include <linux/dcache.h>
#include <linux/fdtable.h>
#include <linux/cred.h>
#include <linux/mount.h>
#include <linux/ptrace.h>
#include <linux/percpu.h>
#include <asm/processor.h>
#include <asm/ptrace.h>
#include <trace/syscall.h>

/*
 * fs/mount.h (struct mount) is private to fs/ and not shipped in
 * linux-headers.  Its head has been this since 3.3; the OSI only reads
 * mnt_parent, mnt_mountpoint and the embedded vfsmount, so a copy of the
 * head gives those offsets.  Named "mount" so the BTF type is found under
 * the kernel's own name.
 */
struct mount {
	struct hlist_node mnt_hash;
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

struct task_struct *osiprobe_task_struct;
struct mm_struct *osiprobe_mm_struct;
struct maple_tree *osiprobe_maple_tree;
struct maple_node *osiprobe_maple_node;
struct maple_range_64 *osiprobe_maple_range_64;
struct maple_arange_64 *osiprobe_maple_arange_64;
enum maple_type osiprobe_maple_type;
struct vm_area_struct *osiprobe_vm_area_struct;
struct file *osiprobe_file;
struct path *osiprobe_path;
struct dentry *osiprobe_dentry;
struct qstr *osiprobe_qstr;
struct files_struct *osiprobe_files_struct;
struct fdtable *osiprobe_fdtable;
struct fs_struct *osiprobe_fs_struct;
struct cred *osiprobe_cred;
struct signal_struct *osiprobe_signal_struct;
struct pt_regs *osiprobe_pt_regs;
struct vfsmount *osiprobe_vfsmount;
struct mount *osiprobe_mount;
struct inode *osiprobe_inode;
struct super_block *osiprobe_super_block;
struct thread_struct *osiprobe_thread_struct;
struct thread_info *osiprobe_thread_info;
struct pid *osiprobe_pid;
struct syscall_metadata *osiprobe_syscall_metadata;
mm_context_t *osiprobe_mm_context;

MODULE_LICENSE("GPL");
