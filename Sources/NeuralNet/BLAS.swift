import COpenBLAS

/// Matrix products through OpenBLAS, and the process-wide BLAS settings.
///
/// Every matrix is row-major `Float`. `sgemm` computes `C = alpha · op(A) · op(B) + beta · C` with
/// `op(A)` of shape m×k, `op(B)` of shape k×n and `C` of shape m×n; `lda`, `ldb`, `ldc` are the row
/// strides of the matrices as stored.
public enum BLAS {
    /// Sets how many threads OpenBLAS uses for later calls (process-wide). The suite defaults to 1
    /// and gets its parallelism from running cells in separate processes.
    public static func setThreads(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }

    /// The number of threads OpenBLAS currently uses.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// OpenBLAS's build configuration, e.g. `OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH … Zen MAX_THREADS=64`.
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The CPU kernel OpenBLAS selected at run time, e.g. `Zen` or `Haswell`.
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// `C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C[m,n]`, through `cblas_sgemm`.
    @inlinable
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The naive triple loop that `sgemm` must agree with; the tests and benchmarks compare the two.
    public static func referenceSgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var sum: Float = 0
                for p in 0..<k {
                    let aip = transA ? a[p * lda + i] : a[i * lda + p]
                    let bpj = transB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += aip * bpj
                }
                let old = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * sum + old
            }
        }
    }

    /// `C = alpha · op(A) · op(B) + beta · C` on `Matrix` values; shapes are checked.
    public static func gemm(
        _ a: Matrix, transposed transA: Bool = false, _ b: Matrix, transposed transB: Bool = false,
        into c: Matrix, alpha: Float = 1, beta: Float = 0, reference: Bool = false
    ) {
        let m = transA ? a.columns : a.rows
        let k = transA ? a.rows : a.columns
        let kb = transB ? b.columns : b.rows
        let n = transB ? b.rows : b.columns
        precondition(k == kb, "gemm: inner dimensions differ (\(k) vs \(kb))")
        precondition(c.rows == m && c.columns == n, "gemm: C is \(c.rows)×\(c.columns), expected \(m)×\(n)")
        let f = reference ? referenceSgemm : sgemm
        f(transA, transB, m, n, k, alpha, a.data, a.columns, b.data, b.columns, beta, c.data, c.columns)
    }
}
