export { parseAddress, parseAddressList } from "./address-list.ts";
export { calendarEventCommunication } from "./calendar-event.ts";
export {
  type CommunicationCandidate,
  type CommunicationItem,
  communicationCandidates,
  selfAddressesOf,
} from "./candidates.ts";
export { gmailMessageCommunication } from "./gmail-message.ts";
export { type Communication, type CommunicationParties, communicationParties } from "./participants.ts";
export { communicationResources, type StoredRecord, storedRecordCommunication } from "./stored-record.ts";
