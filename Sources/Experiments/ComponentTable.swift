import Continual

extension ComponentRegistry {
    /// The README's component table, made from the declarations: one row per component with its
    /// key, summary, citation and every option as `--flag` (default).
    public var markdownTable: String {
        var lines = ["| key | component | options (default) |", "|---|---|---|"]
        for type in types {
            let citation = type.citation.isEmpty ? "" : " (\(type.citation))"
            let options = type.componentOptions.map { option in
                "`--\(option.flag)`" + (option.isSwitch ? "" : " (\(option.defaultText))")
            }
            lines.append("| `\(type.key.rawValue)` | \(type.summary)\(citation) | \(options.joined(separator: ", ")) |")
        }
        return lines.joined(separator: "\n")
    }
}
