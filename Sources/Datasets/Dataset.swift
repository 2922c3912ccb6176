/// One split of a dataset: images as bytes, row-major, one image after another.
public struct DatasetSplit: Sendable, Equatable {
    /// `count × height × width` pixels; image i is `images[i*featureCount ..< (i+1)*featureCount]`.
    public var images: [UInt8]
    /// One label per image, each below the dataset's class count.
    public var labels: [UInt8]
    public var count: Int

    public init(images: [UInt8], labels: [UInt8], count: Int) {
        self.images = images
        self.labels = labels
        self.count = count
    }
}

/// One of a dataset's files as it was read: where, how big, and how its SHA-256 compares.
public struct DatasetFileInfo: Sendable, Equatable {
    public var role: DatasetFileRole
    /// Full path of the file.
    public var path: String
    /// Size on disk in bytes.
    public var byteCount: Int
    /// SHA-256 of the file as stored (compressed or not), 64 lowercase hex digits.
    public var sha256: String
    public var checksum: ChecksumStatus

    /// The file's name within its folder.
    public var name: String { path.split(separator: "/").last.map(String.init) ?? path }

    public init(role: DatasetFileRole, path: String, byteCount: Int, sha256: String, checksum: ChecksumStatus) {
        self.role = role
        self.path = path
        self.byteCount = byteCount
        self.sha256 = sha256
        self.checksum = checksum
    }
}

/// A validated MNIST-style dataset in memory: train and test splits of equally sized
/// single-channel byte images with labels below `classCount`.
public struct Dataset: Sendable {
    public var name: String
    /// The folder the files were read from.
    public var directory: String
    public var train: DatasetSplit
    public var test: DatasetSplit
    public var height: Int
    public var width: Int
    public var classCount: Int
    /// One hash for the whole dataset; see `Dataset.combinedDigest(_:)`.
    public var sha256: String
    /// The four files in the order train images, train labels, test images, test labels.
    public var files: [DatasetFileInfo]

    /// Pixels per image, `height × width`.
    public var featureCount: Int { height * width }

    /// SHA-256 of each file, keyed by the file's name in its folder.
    public var fileDigests: [String: String] {
        Dictionary(files.map { ($0.name, $0.sha256) }, uniquingKeysWith: { first, _ in first })
    }

    public init(
        name: String, directory: String, train: DatasetSplit, test: DatasetSplit,
        height: Int, width: Int, classCount: Int, sha256: String, files: [DatasetFileInfo]
    ) {
        self.name = name
        self.directory = directory
        self.train = train
        self.test = test
        self.height = height
        self.width = width
        self.classCount = classCount
        self.sha256 = sha256
        self.files = files
    }

    /// The dataset hash: SHA-256 of the four files' hex digests in the order train images,
    /// train labels, test images, test labels, each followed by a newline. In a shell:
    /// `printf '%s\n' d1 d2 d3 d4 | sha256sum`.
    public static func combinedDigest(_ digestsInRoleOrder: [String]) -> String {
        SHA256.hexDigest(of: Array(digestsInRoleOrder.map { $0 + "\n" }.joined().utf8))
    }
}

extension Dataset {
    /// Finds a dataset by name or path (see `DatasetLocator`), reads and validates its files.
    ///
    /// - Parameters:
    ///   - nameOrPath: a catalog name such as "mnist-mini", or the path of a folder holding the
    ///     four IDX files (raw or gzip).
    ///   - dataDirectory: the user's `--data-dir`, searched first.
    ///   - environment: the process environment (for `TURRITOPSIS_DATA`).
    ///   - verifyChecksums: when true, a file whose SHA-256 is known and differs throws
    ///     `.checksumMismatch`. Files with no known digest are accepted either way and reported
    ///     as `.unknown` in `files`.
    ///   - classCount: labels must be below this; defaults to the catalog's class count, or 10.
    ///   - currentDirectory: where `datasets/<name>/` is looked for; defaults to the process's.
    /// - Throws: `DatasetError`.
    public static func load(
        _ nameOrPath: String, dataDirectory: String?, environment: [String: String], verifyChecksums: Bool,
        classCount: Int? = nil, currentDirectory: String? = nil
    ) throws -> Dataset {
        let locator = DatasetLocator(
            dataDirectory: dataDirectory, environment: environment, currentDirectory: currentDirectory)
        return try load(locator.locate(nameOrPath), verifyChecksums: verifyChecksums, classCount: classCount)
    }

    /// Reads and validates the files of an already located dataset.
    ///
    /// Checks, in order, for each file: the IDX format (see `readIDX`), the checksum (when
    /// asked), and the shape (images 3-D, labels 1-D); then across files: image and label counts
    /// per split, equal image sizes in train and test, and every label below the class count.
    /// - Throws: `DatasetError`.
    public static func load(_ location: DatasetLocation, verifyChecksums: Bool, classCount: Int? = nil) throws -> Dataset {
        let classes = classCount ?? location.entry?.classCount ?? 10
        guard (1...256).contains(classes) else { throw DatasetError.invalidClassCount(classes) }

        var arrays: [DatasetFileRole: IDXArray] = [:]
        var files: [DatasetFileInfo] = []
        for role in DatasetFileRole.allCases {
            guard let path = location.files[role] else {
                throw DatasetError.missingFiles(folder: location.folder, missing: [role.standardFileName])
            }
            let file = try readIDXFile(path: path)
            let status = location.entry?.checksumStatus(of: role, sha256: file.sha256) ?? .unknown
            if verifyChecksums, case let .mismatch(expected) = status {
                throw DatasetError.checksumMismatch(path: path, expected: expected, found: file.sha256)
            }
            let dims = file.array.dimensions
            if role.holdsImages {
                guard dims.count == 3, dims[1] >= 1, dims[2] >= 1 else {
                    throw DatasetError.badImageShape(path: path, dimensions: dims)
                }
            } else {
                guard dims.count == 1 else { throw DatasetError.badLabelShape(path: path, dimensions: dims) }
            }
            arrays[role] = file.array
            files.append(DatasetFileInfo(
                role: role, path: path, byteCount: file.byteCount, sha256: file.sha256, checksum: status))
        }

        let offset = location.entry?.labelOffset ?? 0
        var train = try makeSplit(
            images: arrays[.trainImages]!, labels: arrays[.trainLabels]!, location: location,
            imagesRole: .trainImages, labelsRole: .trainLabels, classCount: classes, labelOffset: offset)
        var test = try makeSplit(
            images: arrays[.testImages]!, labels: arrays[.testLabels]!, location: location,
            imagesRole: .testImages, labelsRole: .testLabels, classCount: classes, labelOffset: offset)
        let trainShape = Array(arrays[.trainImages]!.dimensions.dropFirst())
        let testShape = Array(arrays[.testImages]!.dimensions.dropFirst())
        guard trainShape == testShape else {
            throw DatasetError.shapeMismatch(
                trainPath: location.files[.trainImages]!, trainShape: trainShape,
                testPath: location.files[.testImages]!, testShape: testShape)
        }
        var (height, width) = (trainShape[0], trainShape[1])
        if location.entry?.transposed == true {
            transposeImages(&train.images, count: train.count, height: height, width: width)
            transposeImages(&test.images, count: test.count, height: height, width: width)
            (height, width) = (width, height)
        }
        return Dataset(
            name: location.name, directory: location.folder, train: train, test: test,
            height: height, width: width, classCount: classes,
            sha256: combinedDigest(files.map(\.sha256)), files: files)
    }

    private static func makeSplit(
        images: IDXArray, labels: IDXArray, location: DatasetLocation,
        imagesRole: DatasetFileRole, labelsRole: DatasetFileRole, classCount: Int, labelOffset: Int
    ) throws -> DatasetSplit {
        let imagesPath = location.files[imagesRole]!
        let labelsPath = location.files[labelsRole]!
        let count = images.dimensions[0]
        guard labels.dimensions[0] == count else {
            throw DatasetError.countMismatch(
                imagesPath: imagesPath, imageCount: count, labelsPath: labelsPath, labelCount: labels.dimensions[0])
        }
        let lowest = labelOffset, highest = labelOffset + classCount - 1
        let bad = labels.elements.withUnsafeBufferPointer { buffer in
            buffer.firstIndex { Int($0) < lowest || Int($0) > highest }
        }
        if let bad {
            throw DatasetError.labelOutOfRange(
                path: labelsPath, index: bad, value: labels.elements[bad], classCount: classCount, firstLabel: lowest)
        }
        var shifted = labels.elements
        if labelOffset != 0 {
            let delta = UInt8(labelOffset)
            for i in shifted.indices { shifted[i] -= delta }
        }
        return DatasetSplit(images: images.elements, labels: shifted, count: count)
    }
}

/// Transposes each of `count` images of `height × width` pixels in place, giving `width × height`
/// images: pixel (r, c) of an image moves to (c, r). EMNIST stores its images this way round.
func transposeImages(_ pixels: inout [UInt8], count: Int, height: Int, width: Int) {
    let size = height * width
    var scratch = [UInt8](repeating: 0, count: size)
    pixels.withUnsafeMutableBufferPointer { all in
        scratch.withUnsafeMutableBufferPointer { tmp in
            for i in 0..<count {
                let image = all.baseAddress! + i * size
                for r in 0..<height {
                    for c in 0..<width { tmp[c * height + r] = image[r * width + c] }
                }
                image.update(from: tmp.baseAddress!, count: size)
            }
        }
    }
}
