/// The four files of an MNIST-style dataset, in the fixed order used for the dataset hash.
public enum DatasetFileRole: String, CaseIterable, Sendable, Codable {
    case trainImages = "train-images"
    case trainLabels = "train-labels"
    case testImages = "t10k-images"
    case testLabels = "t10k-labels"

    /// The name in the original MNIST distribution, e.g. "train-images-idx3-ubyte.gz".
    public var standardFileName: String { "\(baseName).gz" }

    /// The names looked for in a folder, in order of preference: the standard gzip name, the
    /// uncompressed name, and the same with a dot ("train-images.idx3-ubyte") as some copies
    /// have it. Whether a file is compressed is decided by its content, not by its name.
    public var acceptedFileNames: [String] {
        let dotted = "\(rawValue).idx\(rank)-ubyte"
        return [baseName + ".gz", baseName, dotted + ".gz", dotted]
    }

    /// Whether this file holds images (3-D) rather than labels (1-D).
    public var holdsImages: Bool { self == .trainImages || self == .testImages }

    private var rank: Int { holdsImages ? 3 : 1 }
    private var baseName: String { "\(rawValue)-idx\(rank)-ubyte" }
}

/// A SHA-256 that a dataset file is known to have, and where that value comes from.
public struct KnownDigest: Sendable, Equatable {
    public var sha256: String
    public var source: String

    public init(_ sha256: String, source: String) {
        self.sha256 = sha256
        self.source = source
    }
}

/// How a file's SHA-256 compares with the catalog.
public enum ChecksumStatus: Sendable, Equatable, CustomStringConvertible {
    /// The file has one of the known digests.
    case match(source: String)
    /// Digests are known for this file and it has none of them.
    case mismatch(expected: [String])
    /// No digest is known for this file: it is neither confirmed nor refuted.
    case unknown

    public var isMatch: Bool {
        if case .match = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .match: return "match"
        case .mismatch: return "MISMATCH"
        case .unknown: return "unknown"
        }
    }
}

/// One file on a download server: its name there, its size and SHA-256 as published, and where
/// that digest comes from. A download is accepted only when its SHA-256 is `sha256`.
public struct RemoteFile: Sendable, Equatable {
    /// The file's name on every mirror (the last component of its URL).
    public var name: String
    /// Its size in bytes, when published (shown in progress and checked before hashing).
    public var byteCount: Int?
    public var sha256: String
    public var source: String

    public init(_ name: String, byteCount: Int?, sha256: String, source: String) {
        self.name = name
        self.byteCount = byteCount
        self.sha256 = sha256
        self.source = source
    }
}

/// How a dataset is downloaded by `bench datasets fetch`.
///
/// A mirror is a base URL ending in "/": a file's URL is the mirror followed by its name. Mirrors
/// are tried in order, the original host first.
public enum DownloadPlan: Sendable, Equatable {
    /// The four files, each fetched on its own (MNIST, Fashion-MNIST, KMNIST).
    case files(mirrors: [String], files: [DatasetFileRole: RemoteFile])
    /// One zip archive holding the files of several datasets (EMNIST): it is downloaded and
    /// verified once into `cacheFolder` (under the data folder), then each role's member is
    /// extracted under the standard name.
    case zipArchive(mirrors: [String], archive: RemoteFile, cacheFolder: String, members: [DatasetFileRole: String])

    public var mirrors: [String] {
        switch self {
        case let .files(mirrors, _): return mirrors
        case let .zipArchive(mirrors, _, _, _): return mirrors
        }
    }
}

/// What is known about one dataset: its class count, the SHA-256 of its files, where a system
/// package installs it, and how to get it.
public struct CatalogEntry: Sendable, Equatable {
    public var name: String
    /// One line saying what the dataset is.
    public var summary: String
    public var classCount: Int
    /// Image height and width in pixels.
    public var imageHeight: Int
    public var imageWidth: Int
    /// The paper to cite for the dataset (authors, year, title).
    public var citation: String
    /// Where the files can be downloaded, or nil when they cannot (data shipped with the project).
    public var download: DownloadPlan?
    /// Whether each image is stored transposed (column after column), as EMNIST's are; the loader
    /// transposes it back so that every dataset is read upright, row after row.
    public var transposed: Bool
    /// The smallest label in the files; the loader subtracts it, so labels run 0 ..< classCount
    /// (EMNIST letters are labelled 1 to 26).
    public var labelOffset: Int
    /// Accepted digests per file, in the compressed and/or uncompressed form. A role with no
    /// digests has an unknown checksum, which is never reported as a match.
    public var knownDigests: [DatasetFileRole: [KnownDigest]]
    /// Folders where a system package puts the four files, searched last.
    public var systemFolders: [String]
    /// What to do when the dataset is not found.
    public var howToGet: String

    public init(
        name: String, summary: String, classCount: Int = 10,
        knownDigests: [DatasetFileRole: [KnownDigest]], systemFolders: [String] = [], howToGet: String,
        imageHeight: Int = 28, imageWidth: Int = 28, citation: String = "", download: DownloadPlan? = nil,
        transposed: Bool = false, labelOffset: Int = 0
    ) {
        self.name = name
        self.summary = summary
        self.classCount = classCount
        self.knownDigests = knownDigests
        self.systemFolders = systemFolders
        self.howToGet = howToGet
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
        self.citation = citation
        self.download = download
        self.transposed = transposed
        self.labelOffset = labelOffset
    }

    /// Compares `sha256` with the digests known for `role`.
    public func checksumStatus(of role: DatasetFileRole, sha256: String) -> ChecksumStatus {
        let known = knownDigests[role] ?? []
        if known.isEmpty { return .unknown }
        if let hit = known.first(where: { $0.sha256 == sha256.lowercased() }) { return .match(source: hit.source) }
        return .mismatch(expected: known.map(\.sha256))
    }
}

/// The datasets known by name.
public struct DatasetCatalog: Sendable, Equatable {
    public var entries: [CatalogEntry]

    public init(entries: [CatalogEntry]) {
        self.entries = entries
    }

    public var names: [String] { entries.map(\.name) }

    public func entry(named name: String) -> CatalogEntry? {
        entries.first { $0.name == name }
    }
}

extension DatasetCatalog {
    /// mnist-mini, mnist-partial, mnist, fashion-mnist, kmnist and the EMNIST splits letters,
    /// balanced and digits.
    ///
    /// Where each digest comes from is stated in its `source`. Digests of the uncompressed
    /// files let a folder of gunzipped copies be verified too.
    public static let standard = DatasetCatalog(entries: [
        CatalogEntry(
            name: "mnist-mini",
            summary: "5,000 train / 1,000 test MNIST digits, 500 / 100 per class, committed with the project",
            knownDigests: [
                .trainImages: [
                    KnownDigest("38fb4772dcc0d0aa90b6bece7c8ce0e66b006e73aab802a43696b18947139af3", source: Source.projectData),
                    KnownDigest("36cb395b94762f0009909e61c7df0bc6d23da1b3e0251f38b10b10501b652034", source: Source.projectDataRaw),
                ],
                .trainLabels: [
                    KnownDigest("a92d91f2f56df5b6f1ccb1f69b027c3019a81ce97edf7358e776383a6927bb48", source: Source.projectData),
                    KnownDigest("6bf07e4d2b09bd66291b74f06f4d0e8c9f34e62ddcb50269a3126f861d1e7d68", source: Source.projectDataRaw),
                ],
                .testImages: [
                    KnownDigest("82540dd793a1aff19f849304a6be8629a802527b6701aeac967427603099dcc4", source: Source.projectData),
                    KnownDigest("b97c8bfeb834d8e7999eaa2d69239abe06653dc09c1e5d7eb0c974c5965bc6a9", source: Source.projectDataRaw),
                ],
                .testLabels: [
                    KnownDigest("e624b5bc0c02e0cd4062788fe82ca1f26cd4a9f6ec17aec0814b8eb7066768d4", source: Source.projectData),
                    KnownDigest("41cf2f530031915ba9fbb241407c369dba1acd7515053edff48cebeee8b260f4", source: Source.projectDataRaw),
                ],
            ],
            howToGet: "it is committed in datasets/mnist-mini/ of the repository; run from the repository root or pass --data-dir",
            citation: "LeCun, Bottou, Bengio & Haffner 1998 (a subset of MNIST)"
        ),
        CatalogEntry(
            name: "mnist-partial",
            summary: "the first 22,699 MNIST training images and the full 10,000-image test set",
            knownDigests: [
                .trainImages: [
                    KnownDigest("83d9fb42879d4e052efa1295136ec9ce47f46cfe7e35fe9e26407487b7f61488", source: Source.projectData),
                    KnownDigest("76ee3694705769494d0067a47983888c0a9cdc14f05e54c1e5d141b927df22f0", source: Source.projectDataRaw),
                ],
                .trainLabels: [
                    KnownDigest("59d1b48c6c21d598e50635f3fcf85f5fb3c3db0aaee55920c514a77718135624", source: Source.projectData),
                    KnownDigest("01aeb06d9e3545ff842d882e6430d982a0e5025a7e925bae739b8002d7131390", source: Source.projectDataRaw),
                ],
                .testImages: mnistTestImages,
                .testLabels: mnistTestLabels,
            ],
            howToGet: "copy its four files into datasets/mnist-partial/ or pass --data-dir DIR",
            citation: "LeCun, Bottou, Bengio & Haffner 1998 (a subset of MNIST)"
        ),
        CatalogEntry(
            name: "mnist",
            summary: "MNIST handwritten digits, 60,000 train / 10,000 test",
            knownDigests: [
                .trainImages: [
                    KnownDigest("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", source: Source.tfdsMNIST),
                    KnownDigest("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", source: Source.mnistRaw),
                ],
                .trainLabels: [
                    KnownDigest("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", source: Source.tfdsMNIST),
                    KnownDigest("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", source: Source.mnistRaw),
                ],
                .testImages: mnistTestImages,
                .testLabels: mnistTestLabels,
            ],
            howToGet: "run `bench datasets fetch mnist`, or put the four official MNIST files in datasets/mnist/ or pass --data-dir DIR",
            citation: "LeCun, Bottou, Bengio & Haffner 1998, Gradient-based learning applied to document recognition",
            download: .files(
                mirrors: [
                    "http://yann.lecun.com/exdb/mnist/",
                    "https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/",
                ],
                files: [
                    .trainImages: RemoteFile("train-images-idx3-ubyte.gz", byteCount: 9_912_422,
                                             sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", source: Source.tfdsMNIST),
                    .trainLabels: RemoteFile("train-labels-idx1-ubyte.gz", byteCount: 28_881,
                                             sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", source: Source.tfdsMNIST),
                    .testImages: RemoteFile("t10k-images-idx3-ubyte.gz", byteCount: 1_648_877,
                                            sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", source: Source.tfdsMNIST),
                    .testLabels: RemoteFile("t10k-labels-idx1-ubyte.gz", byteCount: 4_542,
                                            sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", source: Source.tfdsMNIST),
                ])
        ),
        CatalogEntry(
            name: "fashion-mnist",
            summary: "Fashion-MNIST (Zalando), 10 clothing classes, 60,000 train / 10,000 test",
            knownDigests: [
                .trainImages: [
                    KnownDigest("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", source: Source.tfdsFashion),
                    KnownDigest("b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7", source: Source.debianFashion),
                    KnownDigest("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", source: Source.fashionRaw),
                ],
                .trainLabels: [
                    KnownDigest("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", source: Source.tfdsFashion),
                    KnownDigest("0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056", source: Source.debianFashion),
                    KnownDigest("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", source: Source.fashionRaw),
                ],
                .testImages: [
                    KnownDigest("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", source: Source.tfdsFashion),
                    KnownDigest("cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa", source: Source.debianFashion),
                    KnownDigest("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", source: Source.fashionRaw),
                ],
                .testLabels: [
                    KnownDigest("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", source: Source.tfdsFashion),
                    KnownDigest("8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05", source: Source.debianFashion),
                    KnownDigest("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", source: Source.fashionRaw),
                ],
            ],
            systemFolders: ["/usr/share/datasets/fashion-mnist"],
            howToGet: "install it with `apt-get install dataset-fashion-mnist` (files land in /usr/share/datasets/fashion-mnist), run `bench datasets fetch fashion-mnist`, or put the four files in datasets/fashion-mnist/",
            citation: "Xiao, Rasul & Vollgraf 2017, Fashion-MNIST: a novel image dataset for benchmarking machine learning algorithms, arXiv:1708.07747",
            download: .files(
                mirrors: [
                    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                ],
                files: [
                    .trainImages: RemoteFile("train-images-idx3-ubyte.gz", byteCount: 26_421_880,
                                             sha256: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", source: Source.tfdsFashion),
                    .trainLabels: RemoteFile("train-labels-idx1-ubyte.gz", byteCount: 29_515,
                                             sha256: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", source: Source.tfdsFashion),
                    .testImages: RemoteFile("t10k-images-idx3-ubyte.gz", byteCount: 4_422_102,
                                            sha256: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", source: Source.tfdsFashion),
                    .testLabels: RemoteFile("t10k-labels-idx1-ubyte.gz", byteCount: 5_148,
                                            sha256: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", source: Source.tfdsFashion),
                ])
        ),
        CatalogEntry(
            name: "kmnist",
            summary: "Kuzushiji-MNIST, 10 classes of cursive Japanese characters, 60,000 train / 10,000 test",
            knownDigests: [
                .trainImages: [KnownDigest("51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4", source: Source.tfdsKMNIST)],
                .trainLabels: [KnownDigest("e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17", source: Source.tfdsKMNIST)],
                .testImages: [KnownDigest("edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5", source: Source.tfdsKMNIST)],
                .testLabels: [KnownDigest("20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c", source: Source.tfdsKMNIST)],
            ],
            howToGet: "run `bench datasets fetch kmnist`, or put the four KMNIST files in datasets/kmnist/ or pass --data-dir DIR",
            citation: "Clanuwat, Bober-Irizar, Kitamoto, Lamb, Yamamoto & Ha 2018, Deep learning for classical Japanese literature, arXiv:1812.01718",
            download: .files(
                mirrors: [
                    "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
                    "https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
                ],
                files: [
                    .trainImages: RemoteFile("train-images-idx3-ubyte.gz", byteCount: 18_165_135,
                                             sha256: "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4", source: Source.tfdsKMNIST),
                    .trainLabels: RemoteFile("train-labels-idx1-ubyte.gz", byteCount: 29_497,
                                             sha256: "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17", source: Source.tfdsKMNIST),
                    .testImages: RemoteFile("t10k-images-idx3-ubyte.gz", byteCount: 3_041_136,
                                            sha256: "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5", source: Source.tfdsKMNIST),
                    .testLabels: RemoteFile("t10k-labels-idx1-ubyte.gz", byteCount: 5_120,
                                            sha256: "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c", source: Source.tfdsKMNIST),
                ])
        ),
        emnist("letters", summary: "EMNIST letters: 26 classes a–z (upper and lower case merged), 124,800 train / 20,800 test",
               classCount: 26, labelOffset: 1),
        emnist("balanced", summary: "EMNIST balanced: 47 classes of digits and letters, 112,800 train / 18,800 test",
               classCount: 47, labelOffset: 0),
        emnist("digits", summary: "EMNIST digits: 10 classes, 240,000 train / 40,000 test", classCount: 10, labelOffset: 0),
    ])

    /// The EMNIST archive of NIST, holding every EMNIST split as gzip IDX files under `gzip/`.
    public static let emnistArchive = RemoteFile(
        "gzip.zip", byteCount: 561_753_746,
        sha256: "fb9bb67e33772a9cc0b895e4ecf36d2cf35be8b709693c3564cea2a019fcda8e", source: Source.tfdsEMNIST)

    /// An EMNIST split (Cohen et al. 2017). Its images are stored transposed and are transposed
    /// back on loading. No SHA-256 of the single files is published: they are verified through
    /// the archive's digest and each member's CRC-32 when fetched, and reported as unknown by
    /// `bench datasets`.
    private static func emnist(_ split: String, summary: String, classCount: Int, labelOffset: Int) -> CatalogEntry {
        var members: [DatasetFileRole: String] = [:]
        for role in DatasetFileRole.allCases {
            let part = role.holdsImages ? "images-idx3-ubyte" : "labels-idx1-ubyte"
            let which = role == .trainImages || role == .trainLabels ? "train" : "test"
            members[role] = "gzip/emnist-\(split)-\(which)-\(part).gz"
        }
        return CatalogEntry(
            name: "emnist-\(split)", summary: summary, classCount: classCount, knownDigests: [:],
            howToGet: "run `bench datasets fetch emnist-\(split)` (downloads NIST's 562 MB gzip.zip once for every EMNIST split), or unzip gzip.zip and copy gzip/emnist-\(split)-{train,test}-{images-idx3,labels-idx1}-ubyte.gz to datasets/emnist-\(split)/ as train-…/t10k-… (the standard names)",
            citation: "Cohen, Afshar, Tapson & van Schaik 2017, EMNIST: an extension of MNIST to handwritten letters, arXiv:1702.05373",
            download: .zipArchive(
                mirrors: [
                    "https://biometrics.nist.gov/cs_links/EMNIST/",
                    "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/",
                ],
                archive: emnistArchive, cacheFolder: "emnist-archive", members: members),
            transposed: true, labelOffset: labelOffset)
    }

    /// The official MNIST test set (also the test set of mnist-partial).
    private static let mnistTestImages = [
        KnownDigest("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", source: Source.tfdsMNIST),
        KnownDigest("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", source: Source.mnistRaw),
    ]
    private static let mnistTestLabels = [
        KnownDigest("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", source: Source.tfdsMNIST),
        KnownDigest("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", source: Source.mnistRaw),
    ]

    private enum Source {
        static let projectData = "the project's data README (gzip file)"
        static let projectDataRaw = "the project's gzip file, decompressed"
        static let tfdsMNIST = "official gzip file, tensorflow/datasets url_checksums/mnist.txt"
        static let mnistRaw = "official file decompressed, as listed in public checksum files"
        static let tfdsFashion = "upstream gzip file, tensorflow/datasets url_checksums/fashion_mnist.txt"
        static let debianFashion = "Debian package dataset-fashion-mnist 0.0~git20200523.55506a9-1 (recompressed gzip file)"
        static let fashionRaw = "decompressed file (Debian's and upstream's content agree)"
        static let tfdsKMNIST = "upstream gzip file, tensorflow/datasets url_checksums/kmnist.txt"
        static let tfdsEMNIST = "NIST's gzip.zip, tensorflow/datasets url_checksums/emnist.txt"
    }
}
