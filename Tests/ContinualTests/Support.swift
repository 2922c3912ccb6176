import Datasets
import Foundation
@testable import Continual

/// The repository root, found from this file's path so the tests run in any clone.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The committed mnist-mini dataset (5,000 train / 1,000 test images), loaded once.
let mnistMini: Dataset = {
    do {
        return try Dataset.load(repositoryRoot + "/datasets/mnist-mini", dataDirectory: nil, environment: [:], verifyChecksums: true)
    } catch {
        fatalError("the committed dataset datasets/mnist-mini cannot be loaded: \(error)")
    }
}()
