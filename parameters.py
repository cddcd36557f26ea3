"""Every default of the toolkit, in one place.

Each script builds its command-line flags from these dataclasses, so a flag
always shows the default written here, and changing a default here changes it
everywhere (conversion, training, evaluation, search, prediction).
"""

from dataclasses import dataclass

VERSION = "0.1.0"

#: Class names of FER-2013, indexed by the dataset's ``emotion`` column.
EMOTIONS = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")

#: FER-2013's classes and FERPlus' contempt (class id 7): the classes a FERPlus vote
#: file or a labelled image folder tree can name.
FERPLUS_CLASSES = EMOTIONS + ("Contempt",)

#: The shipped model that recognises faces when no model is named (``models/pretrained/<name>``;
#: ``fer2013`` or ``ferplus``). Chosen on real photographs, not on a test split: on the muxspace
#: photos ferplus scores 66.6% (macro-F1 0.50) against 55.1% (0.44) for fer2013, contempt
#: counted wrong (BENCHMARKS.md, "Real photographs: the muxspace yardstick").
DEFAULT_MODEL = "ferplus"
#: The model that ``"shipped"`` names (``fer-train --init shipped``, ``--model shipped``): the
#: FER-2013 model, the only one shipped before models had names, so that older commands keep
#: their meaning.
SHIPPED_ALIAS = "fer2013"

#: The three splits of FER-2013 (train on the first, choose on the second,
#: report on the third).
SPLITS = ("Training", "PublicTest", "PrivateTest")

#: Feature sets a model can fuse with the image, and the arrays each one uses.
FEATURE_SETS = {
    "none": (),
    "landmarks": ("landmarks",),
    "landmarks_hog": ("landmarks", "hog"),
    "landmarks_hog_windows": ("landmarks", "hog_windows"),
}


@dataclass(frozen=True)
class Dataset:
    """Where the data lives and how it is converted."""

    csv: str = "data/fer2013.csv"
    features_dir: str = "data/features"
    #: Environment variable that points the tests at the real dataset.
    env_var: str = "FER2013_CSV"
    #: Environment variable that points the tests at FERPlus' vote file (default:
    #: fer2013new.csv beside the CSV that env_var names).
    ferplus_env_var: str = "FERPLUS_CSV"
    #: Set (to 1) where a test that needs the dataset must fail, not skip, without it (CI).
    required_env_var: str = "FER2013_REQUIRED"
    #: fer-convert --images: images at most this many pixels a side are taken
    #: whole as the face under --faces auto (larger ones go through face detection).
    whole_max_side: int = 64
    #: fer-convert --images: share of each class of the training folder kept
    #: for validation (PublicTest) when the tree has no validation folder.
    validation_fraction: float = 0.1
    #: Seed of that validation split.
    validation_seed: int = 1234
    #: Image files handed to one conversion worker at a time.
    chunk_images: int = 32
    #: fer-convert --images skips larger files unread ("too large"; their pixel
    #: count is checked from the header too, before decoding).
    max_image_bytes: int = 100_000_000
    #: Rows per chunk handed to one conversion worker.
    chunk_rows: int = 1024
    #: Conversion worker processes (0: one per CPU core).
    workers: int = 0
    #: Rows converted per split (0: all).
    limit: int = 0
    #: The split fer-evaluate reports on.
    report_split: str = "PrivateTest"


@dataclass(frozen=True)
class Features:
    """How a face becomes the model's inputs: the defaults of
    :class:`features.spec.FeatureSpec`, which conversion records in the
    manifest and training copies into every bundle."""

    #: Feature set fused with the image by default (a key of FEATURE_SETS).
    feature_set: str = "landmarks_hog_windows"
    #: Side of the square grey face the model sees (FER-2013: 48).
    image_size: int = 48
    #: dlib's face box for the 68-point predictor: the whole 48x48 image.
    landmark_box: tuple = (0, 0, 47, 47)
    #: Whole-image HOG.
    hog_orientations: int = 8
    hog_cell: int = 16
    #: Sliding-window HOG.
    window_size: int = 24
    window_step: int = 6
    window_orientations: int = 8
    window_cell: int = 8
    #: How FER-2013 frames a face, measured by benchmarks/face_margin.py (FER-2013
    #: Training faces with room around them, geometric means): the crop of a
    #: detected face is crop_scale times the box, its centre shifted by
    #: (crop_shift_x, crop_shift_y) box sides (BENCHMARKS.md, "Photos").
    crop_scale: float = 1.16
    crop_shift_x: float = 0.0
    crop_shift_y: float = -0.07
    #: What fills a crop that runs past the image: replicate (its border), reflect,
    #: constant (mid grey) or shrink (the square shrunk and moved to fit inside, so
    #: that an image that is itself a face crop is taken whole; BENCHMARKS.md, "Photos").
    crop_fit: str = "shrink"
    #: Rotate each 48x48 face about its centre so that the eyes (from the
    #: landmarks) are level, in conversion and prediction alike, by at most
    #: align_max_angle degrees (fer-convert --align; BENCHMARKS.md, "Alignment").
    align: bool = False
    align_max_angle: float = 30.0


@dataclass(frozen=True)
class Network:
    """Architecture of the CNNs (model A shallow, model B deep)."""

    model: str = "B"
    activation: str = "relu"
    #: Probability of keeping a unit in the dense layers (the original design's
    #: ``keep_prob``); dropout rate is ``1 - keep_prob``.
    keep_prob: float = 0.7
    batch_norm_conv: bool = True
    batch_norm_dense: bool = True
    #: Filters of each convolution block of model A / model B. The shipped model
    #: is model B with ``(64, 128, 256, 256)`` (``--filters-b``) and
    #: ``swa_epochs=20`` (BENCHMARKS.md).
    filters_a: tuple = (32, 64, 128)
    filters_b: tuple = (32, 64, 128, 256)
    #: Spatial dropout rate after each pooling of model B.
    spatial_dropout: float = 0.1
    #: Width of the image embedding, the feature branch and the fusion layer.
    image_units: int = 256
    feature_units: tuple = (256, 128)
    fusion_units: int = 256


@dataclass(frozen=True)
class Hyperparameters:
    """Optimisation settings of a training run.

    The defaults (with :class:`Training`'s and :class:`Network`'s) are the
    recipe of the shipped model (BENCHMARKS.md), whose model B is wider than
    :class:`Network`'s default and which adds 20 epochs of weight averaging. The first recipe, kept for
    the A/B comparison there, was momentum SGD at 0.01, decay 0.95, keep_prob
    0.6, weight decay 5e-4, noise 4, cut-out 0.3, sharpness 0.2.
    """

    optimizer: str = "adam"  # sgd (momentum), adam, rmsprop
    learning_rate: float = 0.001
    momentum: float = 0.9
    beta1: float = 0.9
    #: Learning-rate decay per epoch (multiplicative, whatever the optimiser).
    decay: float = 0.97
    batch_size: int = 64
    epochs: int = 100
    weight_decay: float = 5e-5
    label_smoothing: float = 0.0
    #: Class imbalance: none, class_weights, focal, oversample.
    imbalance: str = "none"
    focal_gamma: float = 2.0


@dataclass(frozen=True)
class Training:
    """How a run is driven: validation, stopping, checkpoints, augmentation."""

    out: str = "runs/latest"
    seed: int = 1234
    early_stopping_patience: int = 20
    plateau_patience: int = 4
    plateau_factor: float = 0.5
    min_learning_rate: float = 1e-5
    augment: bool = True
    #: Augmentation strengths.
    flip_prob: float = 0.5
    max_shift: int = 3
    max_rotation_deg: float = 10.0
    #: Largest zoom, as a fraction of the face's size: each face is scaled about its
    #: centre by a factor drawn from [1 - max_scale, 1 + max_scale], so that the model
    #: sees faces framed a little tighter or looser than FER-2013 frames them, as a
    #: detector's box does (0: off; BENCHMARKS.md, "Zoom augmentation").
    max_scale: float = 0.0
    noise_std: float = 2.0
    cutout_size: int = 12
    cutout_prob: float = 0.0
    contrast_range: tuple = (0.8, 1.2)
    sharpness_prob: float = 0.0
    #: Stochastic weight averaging: once the main phase ends (its epochs or
    #: early stopping), train this many more epochs at the constant rate
    #: swa_learning_rate and average their weights into one model, which is
    #: kept if it beats the best epoch on PublicTest (0: off).
    swa_epochs: int = 0
    swa_learning_rate: float = 1e-4
    #: Start from a model bundle's weights, architecture and feature set (a
    #: bundle folder, or "shipped" for the model that ships with the package; "": from scratch).
    init: str = ""
    #: With init: train only the classification layer for this many epochs first.
    freeze_epochs: int = 0
    #: Optional cap on the number of Training rows (quick runs, searches).
    train_limit: int = 0
    distribute: str = "none"  # none, mirrored, multiworker
    #: float32, or mixed_bfloat16: Keras' mixed precision (computation in bfloat16, weights and the
    #: classification layer in float32). On a CPU with AMX or AVX512-BF16 the shipped model B
    #: trains about 1.6x as fast; elsewhere bfloat16 is emulated and slower. The bundle's model is
    #: saved in float32 either way, so prediction does not change (BENCHMARKS.md, "Training in bfloat16").
    precision: str = "float32"
    #: Distillation: model bundles or shipped models' names whose mean probabilities on the
    #: Training faces are mixed into the targets (models/distill.py; (): none). They must
    #: name the data's classes.
    teacher: tuple = ()
    #: The teachers' share of each target (the labels keep the rest).
    teacher_weight: float = 0.5


@dataclass(frozen=True)
class FineTuning:
    """Settings that fer-train --init uses unless given: a gentler, shorter
    schedule than training from scratch (the architecture and feature set come
    from the initial bundle)."""

    learning_rate: float = 3e-4
    epochs: int = 30
    early_stopping_patience: int = 10
    plateau_patience: int = 3
    swa_epochs: int = 0


@dataclass(frozen=True)
class VideoPredictor:
    """Real-time prediction defaults."""

    camera: int = 0
    #: Seconds between two predictions on a live stream.
    time_between_predictions: float = 0.0
    show_confidence: bool = True
    print_emotions: bool = False
    #: Longest side a photo is shrunk to before face detection (dlib finds
    #: faces of about 80 pixels and up at that size).
    detect_max_side: int = 1280
    #: The same for video frames, where speed matters more: at 480 a 640x480
    #: frame is searched for faces of about 107 pixels and up (BENCHMARKS.md).
    video_max_side: int = 480
    #: Images with more pixels are refused from their header, before any
    #: decoding (a small PNG can otherwise expand to gigabytes).
    max_pixels: int = 50_000_000
    #: Video frames are first searched for faces shrunk to this, and at
    #: video_max_side only where that finds none (0: off; BENCHMARKS.md).
    video_coarse_side: int = 320
    #: That coarse look is MTCNN's (models/mtcnn.py, on LiteRT), faces from video_mtcnn_smallest
    #: of the frame's longer side (1/6: the smallest face that HOG finds at video_max_side), each
    #: refined by HOG as HOG's coarse faces are: faster, and more faces found in scenes
    #: (False: HOG's; BENCHMARKS.md, "MTCNN for video's coarse look").
    video_coarse_mtcnn: bool = True
    video_mtcnn_smallest: float = 1 / 6
    #: Each MTCNN coarse box is searched for again by HOG around itself (refine_side,
    #: refine_margin), as HOG's coarse boxes are; a face HOG does not find again there keeps
    #: MTCNN's box, framed as HOG frames faces ("keep"), or sends the frame to HOG at
    #: video_max_side ("search"); "none" takes MTCNN's boxes unrefined (BENCHMARKS.md,
    #: "MTCNN's faces that HOG does not find again").
    video_mtcnn_refine: str = "keep"
    #: Each face found at the coarse size is searched for again in a region
    #: refine_margin times its box, scaled so that the box is refine_side pixels
    #: (the detector's smallest face is about 80).
    refine_side: int = 100
    refine_margin: float = 1.5
    #: Video: detect faces every N-th frame and follow them by their landmarks
    #: in between (1: detect on every frame; BENCHMARKS.md).
    detect_every: int = 5
    #: A followed face whose landmarks' spread changes by more than this factor
    #: from one frame to the next is detected again on the next frame.
    track_max_change: float = 1.25
    #: Faces per classifier call up to which LiteRT runs the model instead of
    #: Keras (models/fast.py; 0: always Keras, the evaluation path).
    litert_max_batch: int = 16
    #: Video (fer-video, Recognizer.stream): LiteRT runs the model with its weights
    #: quantised to 8 bits, three to four times as fast as float32 on this machine; the
    #: labels equal float32's on 99.7 to 99.9% of the test faces and the accuracy moves
    #: by 0.14 point at most (BENCHMARKS.md, "An 8-bit classifier for video"). Photos
    #: and evaluation stay float32.
    video_quantized: bool = True
    #: Images per batch when fer-predict works through a folder.
    batch_size: int = 16
    #: dlib detector upsampling (1 finds faces down to ~40 px, 4x slower).
    upsample: int = 0
    #: Face detector of video frames: dlib (HOG, built in), opencv (Haar cascade),
    #: cnn (dlib's CNN detector) or dlib+cnn (HOG, then the CNN where HOG found nothing).
    detector: str = "dlib"
    #: Face detector of photos (fer-predict, fer-evaluate --images, fer-web, Recognizer):
    #: accuracy first (BENCHMARKS.md, "Photos").
    photo_detector: str = "dlib+cnn"
    #: Images whose longer side is below detect_min_side are enlarged to it before
    #: detection. Images up to small_side get a replicated border of small_pad times
    #: their side (a face crop that fills the image is found far more often with a
    #: margin), and the CNN detector tries small_cnn_sides in turn (BENCHMARKS.md, "Photos").
    detect_min_side: int = 160
    small_side: int = 256
    small_pad: float = 0.2
    small_cnn_sides: tuple = (160, 224, 120)
    #: The face-crop rule: a small image (up to small_side) in which HOG, looking at it
    #: resized to crop_rule_side with a crop_rule_pad margin, finds one face whose box
    #: is crop_rule_ratio times the image's shorter side and whose centre is within
    #: crop_rule_offset sides of the image's, is framed as a FER-2013 face already: its
    #: central square is the face, as with --whole-image (on FER-2013's faces the box
    #: is 0.70 to 1.12 of the side and its centre within 0.17 sides, 5th to 95th
    #: percentile). Other images, and images where HOG finds nothing at that size, are
    #: searched as usual (BENCHMARKS.md, "Photos").
    crop_rule: bool = True
    crop_rule_side: int = 104
    crop_rule_pad: float = 0.0
    crop_rule_ratio: tuple = (0.6, 1.2)
    crop_rule_offset: float = 0.2
    #: Where the rule holds, HOG looks again at crop_rule_check_side pixels, where a face
    #: down to a third of the image is above its smallest: a face box there under
    #: crop_rule_check_ratio of the shorter side means a portrait, not a face crop, and the
    #: image is searched as usual (at 104 pixels HOG frames such a face with its smallest
    #: box, which fills the image). Of the first 1,000 PublicTest faces, the 702 the rule
    #: takes whole keep 671; real portraits 1.6 face widths wide and wider fail the check
    #: (benchmarks/portraits.py, BENCHMARKS.md "Portraits").
    crop_rule_check_side: int = 256
    crop_rule_check_ratio: float = 0.6
    #: Photos (Recognizer, fer-predict, fer-evaluate --images, fer-web, fer-convert
    #: --images): each face found is cut again reframe times from its own landmarks (found
    #: on the previous crop) at FER-2013's median framing relative to them: a square
    #: reframe_side landmark spreads wide (the points' root mean square distance from their
    #: centre), centred reframe_offset spreads (x, y) from their centre. A detector's box
    #: frames faces 0.83 to 1.23 times as wide as FER-2013 does. Faces taken whole keep
    #: their crop; 0: off. One pass, chosen on PublicTest faces in scenes (572 found of
    #: 600: 63.81% as found, 65.03% cut again once, 64.69% twice) and half the cost of two.
    #: The framing is the median over FER-2013's Training faces (benchmarks/reframe.py
    #: --data DIR prints it; BENCHMARKS.md, "Found faces cut again from their landmarks").
    reframe: int = 1
    reframe_side: float = 3.151
    reframe_offset: tuple = (0.024, -0.288)
    #: A re-framed square more than reframe_max_change times larger or smaller than the
    #: crop it comes from (a landmark fit that failed) keeps that crop.
    reframe_max_change: float = 1.6
    #: Photos: a face inside a rectangle with straight edges on all four sides (a photo in
    #: a photo, a tile of a video call, a face crop pasted into a page) ends where it ends
    #: (features.faces.tile_square), after the re-framing passes: each side's best line,
    #: from tile_reach square sides outside the face's square to the edge of its middle
    #: (tile_core from each end), has a step of tile_step grey levels or more, a local
    #: maximum across the lines, along tile_share of the square's middle or more (a side's
    #: edge: its line nearest the face of those within tile_margin of its best). A square
    #: tile (sides within tile_aspect) that the face's square is tile_whole times is taken
    #: whole, as the face-crop rule takes a whole image; with tile_fit, any other tile holds
    #: the square, shrunk to fit (off: where the tile found is not the face's, shrinking cuts
    #: into the face; chosen on 1,500 PublicTest scenes, tile_share too: 68.54% of the faces
    #: found against 67.31% without the look and 68.40% with tile_fit; no muxspace photo has
    #: a tile at 0.6, four at 0.5). Video frames skip it (video_tile). BENCHMARKS.md, "Faces
    #: in a tile".
    tile: bool = True
    tile_reach: float = 0.5
    tile_core: float = 0.25
    tile_step: float = 6.0
    tile_share: float = 0.6
    tile_margin: float = 0.15
    tile_whole: tuple = (0.6, 1.7)
    tile_aspect: float = 1.1
    tile_fit: bool = False
    video_tile: bool = False
    #: Turned looks: in a photo larger than small_side where every other look of dlib+cnn
    #: found no face, the photo turned by each of photo_turns (degrees, counter-clockwise;
    #: features.faces.look_turned) is looked at in turn until one finds a face: faces
    #: leaning 30 degrees or more (a head on a hand, a person lying down) are hardly found
    #: upright. Each look is YuNet's, its boxes scoring at least turn_confirm_score checked
    #: by the CNN (features.faces.turned_search; none where YuNet cannot run). The face is
    #: cut upright from the turned photo; its box and landmarks are mapped back. Chosen on
    #: 1,500 PublicTest scenes (benchmarks/turns.py; BENCHMARKS.md, "Turned looks"): 8 of
    #: the 38 faces missed upright are found, no false face in 200 face-free scenes, about
    #: 55 ms a turn on a photo without a face. Confirming YuNet's boxes from 0.2 finds 14
    #: but costs 368 ms at the 90th percentile; the whole search turned finds 23, with 2
    #: false faces and 3 s at the 90th percentile. (): off. Video never looks so.
    photo_turns: tuple = (-30.0, 30.0)
    turn_confirm_score: float = 0.5
    #: Video frames (fer-video, Recognizer.stream) are not re-framed where faces are
    #: detected: speed first.
    video_reframe: int = 0
    #: Video: on the frames between detections, each followed face is cut at FER-2013's
    #: framing around the previous frame's landmarks, as photos' one re-framing pass does,
    #: without a landmark fit of its own since they are known already (about 0.15 ms a
    #: frame; models.video.FaceTracker; False: around its box; BENCHMARKS.md).
    track_reframe: bool = True
    #: Where dlib+cnn finds nothing in a small image, it looks again at it mirrored,
    #: CLAHE-equalised and histogram-equalised (about 0.5 s each), then with the CNN
    #: upsampled once at the first of small_cnn_sides (0.8 s), in that order.
    small_retries: tuple = ("mirror", "clahe", "equalize", "cnn_upsample")
    #: Where dlib+cnn's HOG finds nothing in a larger image, HOG looks again with this
    #: much more upsampling (faces down to about 40 px at 1) before the CNN runs
    #: (0: straight to the CNN; BENCHMARKS.md, "Photos").
    hog_retry_upsample: int = 1
    #: Where that second look finds no face either, its best hog_candidates
    #: near-misses (windows scoring at least hog_candidate_score, 0 being HOG's
    #: own threshold) are each searched by the CNN in a region candidate_margin
    #: times the window, scaled so that the window is candidate_side pixels, before
    #: the CNN searches the whole image: small faces that HOG scores just under its
    #: threshold are found for about 40 ms each (chosen on PublicTest scenes;
    #: BENCHMARKS.md, "Photos"). 0 candidates: off.
    hog_candidates: int = 2
    hog_candidate_score: float = -0.8
    #: Beside them, BlazeFace's best proposer_candidates proposals scoring at least
    #: proposer_candidate_score and at least proposer_candidate_min_side pixels wide
    #: (whatever photo_proposer says; 0: none). Smaller proposals would be enlarged
    #: over 3.75 times to candidate_side, where textures start to look like faces
    #: (HOG's own near misses are at least 40 px).
    proposer_candidates: int = 2
    proposer_candidate_score: float = 0.05
    proposer_candidate_min_side: int = 32
    candidate_side: int = 120
    candidate_margin: float = 1.8
    #: Test-time augmentation (--tta, in prediction and evaluation): besides the
    #: mirror image, the face moved diagonally by this many pixels each way and
    #: those views' mirrors, ten views in all (--tta-shift; 0: the mirror image only).
    tta_shift: int = 0
    #: Photos larger than small_side: an optional first look by a face proposer
    #: ("blazeface": MediaPipe's full-range BlazeFace, about 2 ms; "none": off). Its
    #: proposals scoring at least proposer_min_score (at most proposer_max_faces of
    #: them, at least one scoring proposer_score) are each searched for by HOG around
    #: themselves, as refine_side and refine_margin say; when every one is found those
    #: are the faces, else the photo is searched as usual. Faster on photos with a face,
    #: but a face the proposer misses is lost when it finds another (BENCHMARKS.md,
    #: "Face proposals"); off by default.
    photo_proposer: str = "none"
    proposer_score: float = 0.6
    proposer_min_score: float = 0.2
    proposer_max_faces: int = 4
    #: Overlapping proposals (intersection over union above this) are one face.
    proposer_nms_iou: float = 0.3
    #: The CNN detector's model file (face-recognition-models) and the longest side it searches.
    cnn_model: str = "mmod_human_face_detector.dat"
    cnn_max_side: int = 640
    #: The CNN detector frames faces larger and higher than HOG: its box is mapped to
    #: HOG's (side times cnn_box_scale, centre moved by the shifts in box sides) so that
    #: the crop geometry measured on HOG boxes serves both (benchmarks/photos.py --calibrate).
    cnn_box_scale: float = 0.919
    cnn_box_shift_x: float = 0.025
    cnn_box_shift_y: float = 0.068
    #: Group photos: where the photo search finds a face in a photo larger than small_side,
    #: MTCNN (models/mtcnn.py) looks for more faces, from group_min_ratio times the largest
    #: face found (at least group_min_face pixels) up to group_max_ratio times it; its faces
    #: scoring more than mtcnn_onet_score that overlap no found face are added (False: off;
    #: BENCHMARKS.md, "Group photos by MTCNN").
    group_look: bool = True
    group_min_face: int = 24
    group_min_ratio: float = 0.25
    group_max_ratio: float = 1.5
    #: MTCNN's threads while it looks beside HOG's search of the photo (which holds one core).
    group_look_threads: int = 1
    #: Where HOG's first look finds no face in such a photo, MTCNN's faces (from group_min_face
    #: pixels up) are taken before the slower looks (HOG upsampled, the CNN detector), which run
    #: only where MTCNN finds none either (BENCHMARKS.md, "MTCNN before the slower looks").
    group_look_before_retry: bool = True
    #: The scores MTCNN's three networks must exceed (P-Net, R-Net: the published
    #: cascade's; O-Net: chosen on PublicTest group scenes, benchmarks/group_looks.py).
    mtcnn_pnet_score: float = 0.6
    mtcnn_rnet_score: float = 0.7
    mtcnn_onet_score: float = 0.8
    #: MTCNN's networks run on LiteRT (a third of TensorFlow's time on them; False:
    #: TensorFlow's graphs, which also run wherever LiteRT fails).
    mtcnn_litert: bool = True
    #: MTCNN frames faces taller and lower than HOG: its box is mapped to HOG's as the
    #: CNN detector's is (benchmarks/group_looks.py --calibrate).
    mtcnn_box_scale: float = 0.899
    mtcnn_box_shift_x: float = 0.002
    mtcnn_box_shift_y: float = 0.064
    #: The photo search's last look, in a photo larger than small_side where HOG's first
    #: look (and MTCNN, with the group look) finds no face. "slow": HOG upsampled, the CNN
    #: around its near misses and BlazeFace's proposals, then the CNN over the photo (about
    #: 2.0 s for a 640x480 photo without a face, idle). "yunet", the default: YuNet
    #: (libfacedetection, features/yunet.py) looks at the photo shrunk to at most
    #: yunet_max_side; its best yunet_confirm boxes scoring at least yunet_confirm_score
    #: are each searched by the CNN around itself (candidate_side, candidate_margin), and
    #: the slower looks run only where that answer is doubtful (yunet_doubt_score): a
    #: photo without a face costs 64 ms instead of 2,014 (idle), for 0.6 points of the
    #: hardest faces (97.24% found against 97.85% on PrivateTest scenes; the same
    #: real photographs right: BENCHMARKS.md, "YuNet's doubtful answers"). YuNet's own
    #: boxes are never taken unconfirmed: it scores a dog's face 0.84 (samples/dogs.jpg).
    #: Where YuNet is not available, "yunet" is "slow".
    photo_last_look: str = "yunet"
    yunet_max_side: int = 640
    yunet_confirm: int = 2
    yunet_confirm_score: float = 0.2
    #: Where the CNN confirms none of YuNet's boxes but its best scores at least
    #: yunet_doubt_score, the slower looks run after all: YuNet is sure of some faces
    #: that the CNN around its box misses (13 of 200 face-free PublicTest scenes run
    #: them; BENCHMARKS.md, "YuNet's doubtful answers"). Above 1: never.
    yunet_doubt_score: float = 0.4
    #: The opencv detector: OpenCV's cascade file and detectMultiScale's settings.
    haar_cascade: str = "haarcascade_frontalface_default.xml"
    haar_scale_factor: float = 1.1
    haar_min_neighbors: int = 5
    haar_min_size: int = 30
    #: fer-video: stop after this many frames (0: at the end of the stream).
    max_frames: int = 0


@dataclass(frozen=True)
class WebServer:
    """``fer-web`` defaults: the address, upload limits and the server's capacity."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_mb: float = 10.0
    #: Requests worked on at once.
    threads: int = 8
    #: Connections held open at once (waitress' own default is 100: that many
    #: idle clients would block everyone else).
    connection_limit: int = 1000
    #: Seconds an idle connection is kept before it is closed.
    channel_timeout: int = 30


@dataclass(frozen=True)
class OptimizerSearch:
    """hyperopt search space and budget."""

    max_evals: int = 20
    epochs: int = 3
    train_limit: int = 6000
    batch_size: int = 64
    #: Seed of the search (TPE) and of each trial's training run.
    seed: int = 0
    out: str = "runs/optimize"
    #: Trials file inside ``out`` when ``--trials`` is not given (JSON).
    trials_file: str = "trials.json"
    #: Trials run at once on Spark.
    parallelism: int = 2
    learning_rate: tuple = (1e-4, 1e-1)  # log-uniform
    decay: tuple = (0.85, 1.0)
    optimizers: tuple = ("sgd", "adam", "rmsprop")
    momentum: tuple = (0.8, 0.99)  # also beta1 for adam
    keep_prob: tuple = (0.3, 0.9)
    svm_c: tuple = (1e-3, 1e2)  # log-uniform
    svm_gamma: tuple = (1e-5, 1e-1)  # log-uniform


@dataclass(frozen=True)
class Svm:
    """SVM baseline."""

    svm_kernel: str = "rbf"  # linear, rbf (Nystroem approximation + linear SVM)
    svm_c: float = 1.0
    svm_gamma: float = 0.0  # 0: 1 / n_features
    svm_components: int = 3000
    svm_max_iter: int = 300


DATASET = Dataset()
FEATURES = Features()
#: The feature settings of conversions and bundles written before they recorded
#: theirs (toolkit 0.1.0, the shipped model among them). Written out on purpose:
#: a later change of FEATURES must not change what an old bundle is read as.
FEATURES_BEFORE_SPEC = Features(
    feature_set="landmarks_hog_windows", image_size=48, landmark_box=(0, 0, 47, 47), hog_orientations=8, hog_cell=16,
    window_size=24, window_step=6, window_orientations=8, window_cell=8, crop_scale=1.28, crop_shift_x=0.040,
    crop_shift_y=-0.053, crop_fit="replicate", align=False, align_max_angle=30.0)
NETWORK = Network()
HYPERPARAMETERS = Hyperparameters()
TRAINING = Training()
FINE_TUNING = FineTuning()
VIDEO = VideoPredictor()
WEB = WebServer()
SEARCH = OptimizerSearch()
SVM = Svm()
