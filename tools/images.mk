# tools/images.mk — VM images; included by the top-level Makefile.
#
#   make images        initramfs + bootable raw disk for bootstrap, control, data
#   make image-<role>  one role's images
#   make test-images   boot tests (tests/image/test_*.sh) through tools/testrun.sh
#   make bench-boot    time from qemu start to "boot done", to the daemon's
#                      start line and to the node being READY ("cluster
#                      created" / "joined the cluster", joining a bootstrap
#                      VM the script boots first), per role and boot mode
#   make release       build/release/: binaries tarball, images, vm tools and
#                      traefikee_checksums.txt (sha256)
#
# Outputs go under build/images/ (see board/qemu-x86_64/README.md and
# docs/internals/images.md). The Debian packages the images need are
# installed by tools/image-deps.sh, which also finds the installed cloud kernel.

IMG       := build/images
IMG_ROLES := bootstrap control data
IMG_KENV  := $(DEPS)/image-kernel.env
IMG_SRC   := tools/mkimage.sh $(shell find rootfs board/qemu-x86_64 -type f 2>/dev/null)
IMG_VER   := v$(shell cat VERSION 2>/dev/null || echo 0.0.0)
REL       := build/release

.PHONY: images test-images bench-boot release image-deps $(addprefix image-,$(IMG_ROLES))

image-deps: $(IMG_KENV)
$(IMG_KENV): tools/image-deps.sh
	tools/image-deps.sh

# One run of mkimage.sh makes both files of a role (grouped pattern targets).
$(IMG)/%/initramfs.cpio.gz $(IMG)/%/disk.img: build/bin/traefikee build/bin/traefikeectl $(IMG_KENV) $(IMG_SRC)
	tools/mkimage.sh $*

$(addprefix image-,$(IMG_ROLES)): image-%: $(IMG)/%/initramfs.cpio.gz $(IMG)/%/disk.img

images: $(foreach r,$(IMG_ROLES),$(IMG)/$(r)/initramfs.cpio.gz $(IMG)/$(r)/disk.img)
	@for r in $(IMG_ROLES); do \
	  printf '%-10s initramfs %9d bytes   disk.img %9d bytes\n' $$r \
	    $$(stat -c %s $(IMG)/$$r/initramfs.cpio.gz) $$(stat -c %s $(IMG)/$$r/disk.img); done
	@printf '%-10s %9d bytes (shared by all roles)\n' vmlinuz $$(stat -c %s $(IMG)/vmlinuz)

test-images: images
	TEE_IMAGE_NOBUILD=1 tools/testrun.sh regress $(sort $(wildcard tests/image/test_*.sh))

bench-boot: images
	tests/image/bench_boot.sh $(IMG_ROLES)

# The release: what an air-gapped install needs, and its checksums.
#   traefikee_vX_linux_amd64.tar.gz     traefikee and traefikeectl (flat, as in the seed)
#   traefikee_vX_vmlinuz                the kernel every image boots
#   traefikee_vX_<role>.initramfs.gz    per role, for qemu -kernel/-initrd or PXE
#   traefikee_vX_<role>.disk.img.gz     per role, bootable raw disk (gunzip first)
#   traefikee_vX_vm-tools.tar.gz        bootvm.sh, mkconfigdrive.sh, board/, node.env.example, docs
#   traefikee_checksums.txt             sha256sum of all of the above
release: all images
	@rm -rf $(REL) && mkdir -p $(REL)/.stage/bin $(REL)/.stage/tools/tools $(REL)/.stage/tools/config $(REL)/.stage/tools/docs
	@set -e; e=$$(date -u -d "$$(sed -n 's/^#define TEE_BUILDDATE "\(.*\)"$$/\1/p' build/gen/version.h)" +%s 2>/dev/null || echo 0); \
	tarit() { out=$$1; dir=$$2; shift 2; \
	  tar -C $$dir --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$$e -cf - "$$@" | gzip -9n > $$out; }; \
	cp build/bin/traefikee build/bin/traefikeectl $(REL)/.stage/bin/; \
	tarit $(REL)/traefikee_$(IMG_VER)_linux_amd64.tar.gz $(REL)/.stage/bin traefikee traefikeectl; \
	cp $(IMG)/vmlinuz $(REL)/traefikee_$(IMG_VER)_vmlinuz; \
	for r in $(IMG_ROLES); do \
	  cp $(IMG)/$$r/initramfs.cpio.gz $(REL)/traefikee_$(IMG_VER)_$$r.initramfs.gz; \
	  gzip -9n < $(IMG)/$$r/disk.img > $(REL)/traefikee_$(IMG_VER)_$$r.disk.img.gz; \
	done; \
	cp tools/bootvm.sh tools/mkconfigdrive.sh $(REL)/.stage/tools/tools/; \
	cp -r board $(REL)/.stage/tools/; \
	cp config/node.env.example $(REL)/.stage/tools/config/; \
	cp docs/install-airgapped.md $(REL)/.stage/tools/docs/; \
	tarit $(REL)/traefikee_$(IMG_VER)_vm-tools.tar.gz $(REL)/.stage/tools tools board config docs; \
	rm -rf $(REL)/.stage; \
	cd $(REL) && sha256sum traefikee_$(IMG_VER)_* > traefikee_checksums.txt
	@cd $(REL) && ls -l | awk 'NR > 1 { printf "%-44s %10d bytes\n", $$9, $$5 }'
	@echo "check: cd $(REL) && sha256sum -c traefikee_checksums.txt"
