import Testing
@testable import Continual
