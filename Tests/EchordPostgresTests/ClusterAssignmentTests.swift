import EchordPostgres
import EchordTestSupport
import Testing

@Suite("ClusterMember.assignment: balanced and stable", .timeLimit(.minutes(3 * TestTime.scale)))
struct ClusterAssignmentTests {
    @Test("3 members share 12 shards 4/4/4; every shard exactly once")
    func balanced() {
        let assignment = ClusterMember.assignment(shardCount: 12, members: ["a", "b", "c"])
        #expect(assignment.values.map(\.count).sorted() == [4, 4, 4])
        #expect(assignment.values.flatMap { $0 }.sorted() == Array(0..<12))
        #expect(ClusterMember.assignment(shardCount: 12, members: ["c", "a", "b"]) == assignment)
    }

    @Test("a join or a leave moves few shards")
    func stable() {
        let members = (0..<4).map { "member-\($0)" }
        let before = ClusterMember.assignment(shardCount: 64, members: members)
        let joined = ClusterMember.assignment(shardCount: 64, members: members + ["member-4"])
        func owners(_ assignment: [String: [Int]]) -> [Int: String] {
            Dictionary(uniqueKeysWithValues: assignment.flatMap { member, shards in shards.map { ($0, member) } })
        }
        let moved = zip(owners(before).sorted { $0.key < $1.key }, owners(joined).sorted { $0.key < $1.key })
            .filter { $0.0.value != $0.1.value }.count
        // The newcomer's fair share is about 13 shards; a full reshuffle would move about 51.
        #expect(moved <= 26, "\(moved) moved")
        #expect(joined["member-4"]?.count ?? 0 >= 10)
        let left = ClusterMember.assignment(shardCount: 64, members: Array(members.dropLast()))
        let movedOnLeave = owners(before).filter { shard, owner in owner != "member-3" && owners(left)[shard] != owner }.count
        #expect(movedOnLeave <= 16, "\(movedOnLeave) moved")
    }
}
