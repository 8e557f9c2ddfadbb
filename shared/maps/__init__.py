"""All-sky maps: HEALPix map files (:mod:`.healpix`), their HiPS (:mod:`.hips`) and building
them when a map is delivered (:mod:`.publish`)."""
